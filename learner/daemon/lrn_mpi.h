/* The few MPI operations the learner spreads blocks with: buffers from
 * rank 0 to all, and buffers between two ranks. Built without MPI (meson
 * -Dmpi=disabled, or no libopenmpi-dev) every call fails and
 * lrn_mpi_available() says 0. */
#ifndef LRN_MPI_H
#define LRN_MPI_H

#include <stddef.h>

int lrn_mpi_available(void);

/* MPI_Init; rank and size of the world. 0, or -1. */
int lrn_mpi_init(int *argc, char ***argv, int *rank, int *size);
void lrn_mpi_finalize(void);
/* Stop every rank (after a failure on one). */
void lrn_mpi_abort(int code);

/* Rank 0's int to every rank. */
int lrn_mpi_bcast_int(long long *v);
/* Rank 0's buffer (*buf, *len) to every rank; the others get a malloc'd
 * copy. 0, or -1 (out of memory). */
int lrn_mpi_bcast_buf(char **buf, size_t *len);
/* One buffer to a rank, and its receipt (malloc'd, NUL-terminated). */
int lrn_mpi_send_buf(int to, int tag, const void *buf, size_t len);
int lrn_mpi_recv_buf(int from, int tag, char **buf, size_t *len);

#endif
