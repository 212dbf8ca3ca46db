/* MPI transport for the learner: length-prefixed byte buffers. */
#include "lrn_mpi.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#ifdef NS_HAVE_MPI
#include <mpi.h>

/* Buffers travel in pieces of at most 1 GiB (MPI counts are int). */
#define PIECE (1 << 30)

int
lrn_mpi_available(void)
{
	return 1;
}

int
lrn_mpi_init(int *argc, char ***argv, int *rank, int *size)
{
	if (MPI_Init(argc, argv) != MPI_SUCCESS)
		return -1;
	MPI_Comm_rank(MPI_COMM_WORLD, rank);
	MPI_Comm_size(MPI_COMM_WORLD, size);
	return 0;
}

void
lrn_mpi_finalize(void)
{
	MPI_Finalize();
}

void
lrn_mpi_abort(int code)
{
	MPI_Abort(MPI_COMM_WORLD, code);
}

int
lrn_mpi_bcast_int(long long *v)
{
	return MPI_Bcast(v, 1, MPI_LONG_LONG, 0, MPI_COMM_WORLD) ==
			       MPI_SUCCESS
		       ? 0
		       : -1;
}

static int
bytes(void *buf, size_t len, int (*op)(char *, int, void *), void *arg)
{
	for (size_t off = 0; off < len; off += PIECE) {
		size_t n = len - off < PIECE ? len - off : PIECE;
		if (op((char *)buf + off, (int)n, arg))
			return -1;
	}
	return 0;
}

static int
bcast_piece(char *p, int n, void *arg)
{
	(void)arg;
	return MPI_Bcast(p, n, MPI_BYTE, 0, MPI_COMM_WORLD) != MPI_SUCCESS;
}

int
lrn_mpi_bcast_buf(char **buf, size_t *len)
{
	int rank;
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	long long n = rank == 0 ? (long long)*len : 0;
	if (lrn_mpi_bcast_int(&n))
		return -1;
	if (rank != 0) {
		*len = (size_t)n;
		*buf = malloc(*len + 1);
		if (!*buf)
			lrn_mpi_abort(1); /* the others wait for us */
		(*buf)[*len] = 0;
	}
	return bytes(*buf, *len, bcast_piece, NULL);
}

struct peer {
	int rank, tag;
};

static int
send_piece(char *p, int n, void *arg)
{
	const struct peer *pe = arg;
	return MPI_Send(p, n, MPI_BYTE, pe->rank, pe->tag, MPI_COMM_WORLD) !=
	       MPI_SUCCESS;
}

static int
recv_piece(char *p, int n, void *arg)
{
	const struct peer *pe = arg;
	return MPI_Recv(p, n, MPI_BYTE, pe->rank, pe->tag, MPI_COMM_WORLD,
			MPI_STATUS_IGNORE) != MPI_SUCCESS;
}

int
lrn_mpi_send_buf(int to, int tag, const void *buf, size_t len)
{
	unsigned long long n = len;
	if (MPI_Send(&n, 1, MPI_UNSIGNED_LONG_LONG, to, tag, MPI_COMM_WORLD) !=
	    MPI_SUCCESS)
		return -1;
	struct peer pe = {to, tag};
	return bytes((void *)buf, len, send_piece, &pe);
}

int
lrn_mpi_recv_buf(int from, int tag, char **buf, size_t *len)
{
	unsigned long long n;
	if (MPI_Recv(&n, 1, MPI_UNSIGNED_LONG_LONG, from, tag, MPI_COMM_WORLD,
		     MPI_STATUS_IGNORE) != MPI_SUCCESS)
		return -1;
	*len = (size_t)n;
	*buf = malloc(*len + 1);
	if (!*buf)
		return -1;
	(*buf)[*len] = 0;
	struct peer pe = {from, tag};
	return bytes(*buf, *len, recv_piece, &pe);
}

#else /* no MPI */

int
lrn_mpi_available(void)
{
	return 0;
}

int
lrn_mpi_init(int *argc, char ***argv, int *rank, int *size)
{
	(void)argc;
	(void)argv;
	*rank = 0;
	*size = 1;
	return -1;
}

void
lrn_mpi_finalize(void)
{
}

void
lrn_mpi_abort(int code)
{
	exit(code);
}

int
lrn_mpi_bcast_int(long long *v)
{
	(void)v;
	return -1;
}

int
lrn_mpi_bcast_buf(char **buf, size_t *len)
{
	(void)buf;
	(void)len;
	return -1;
}

int
lrn_mpi_send_buf(int to, int tag, const void *buf, size_t len)
{
	(void)to;
	(void)tag;
	(void)buf;
	(void)len;
	return -1;
}

int
lrn_mpi_recv_buf(int from, int tag, char **buf, size_t *len)
{
	(void)from;
	(void)tag;
	(void)buf;
	(void)len;
	return -1;
}

#endif
