/* The privacy accountant: Rényi DP of the Poisson-subsampled Gaussian
 * mechanism (Mironov, Talwar and Zhang 2019), composed over DP-SGD steps
 * and noisy releases, and converted to (ε, δ) (../shared/reference/
 * anchors.md §5.2, netshare.md §6.1).
 *
 * What one "step" is: one application of the sampled Gaussian mechanism,
 * i.e. one noisy update that touches a Poisson batch drawn with rate q
 * (each record in independently) and adds N(0, σ²C²) to the sum of the
 * gradients clipped to norm C. Every discriminator update counts, d_rounds
 * of them per iteration and each discriminator on its own
 * (gan-math.md, "What the accountant must count").
 *
 * Needs only libm, except the JSON form, which uses cJSON. */
#ifndef NETSHARE_PRIVACY_H
#define NETSHARE_PRIVACY_H

#include <stddef.h>
#include <stdint.h>

#define NS_PRIVACY_MAX_ORDERS 256
/* Orders are in (1, NS_PRIVACY_ORDER_MAX]; the integer path costs O(α). */
#define NS_PRIVACY_ORDER_MAX 100000.0

/* RDP ε(α) of one step of the sampled Gaussian with rate q in [0, 1] and
 * noise multiplier σ ≥ 0, at order α > 1: ln(A_α)/(α − 1). Integer α by
 * the exact binomial sum, any other α by the paper's two series. q = 0
 * gives 0; q = 1 gives the plain Gaussian's α/(2σ²); σ = 0 with q > 0
 * gives +inf. NAN for arguments outside those ranges (or NaN). */
double ns_rdp_sampled_gaussian(double q, double sigma, double alpha);

/* The two-series path alone, for any α > 1, integers included (where it
 * equals the binomial sum): for tests. Same special cases and NAN rule. */
double ns_rdp_sampled_gaussian_series(double q, double sigma, double alpha);

/* RDP to (ε, δ). */
enum ns_privacy_conversion {
	/* Balle et al. 2020 (Opacus get_privacy_spent): ε = min_α
	 * [RDP(α) − (ln δ + ln α)/(α − 1) + ln((α − 1)/α)] */
	NS_PRIVACY_BALLE,
	/* Mironov 2017 (TF-Privacy before 0.8): ε = min_α
	 * [RDP(α) + ln(1/δ)/(α − 1)] */
	NS_PRIVACY_CLASSIC,
	NS_PRIVACY_CONVERSION_COUNT
};
/* "balle", "classic" */
extern const char *const ns_privacy_conversion_names[];

/* Accumulated RDP over a fixed list of orders, strictly ascending. A
 * plain value: copy it with =, nothing to free. */
struct ns_privacy_acct {
	size_t n_orders;
	double order[NS_PRIVACY_MAX_ORDERS]; /* (n_orders) ascending */
	double rdp[NS_PRIVACY_MAX_ORDERS];   /* (n_orders) ≥ 0 or +inf */
};

/* NetShare's orders (src/gan/util.py): 1.25, 1.5, 1.75, 2, 2.25, 2.5, 3,
 * 3.5, 4, 4.5, the integers 5..63, then 128, 256, 512 (72 in all). Zero
 * RDP. */
void ns_privacy_acct_init(struct ns_privacy_acct *a);
#define NS_PRIVACY_DEFAULT_ORDERS 72

/* Custom orders, n in [1, NS_PRIVACY_MAX_ORDERS], each finite and in
 * (1, NS_PRIVACY_ORDER_MAX], in any order (they are sorted); no order
 * twice. Returns 0, or -1 with *a untouched. */
int ns_privacy_acct_init_orders(struct ns_privacy_acct *a,
                                const double *orders, size_t n);

/* Compose `steps` steps of the sampled Gaussian (q, σ) as above. Returns
 * 0, or -1 with nothing added when q or σ is out of range. */
int ns_privacy_acct_add_sampled_gaussian(struct ns_privacy_acct *a, double q,
                                         double sigma, uint64_t steps);

/* One Gaussian release of a sensitivity-1 query with noise σ (a noisy
 * count, say): RDP α/(2σ²). σ = 0 is +inf. 0, or -1 if σ < 0 or NaN. */
int ns_privacy_acct_add_gaussian(struct ns_privacy_acct *a, double sigma);

/* Sum src into dst (two blocks, two chunks, D and D_a). Returns 0, or -1
 * with dst untouched when the order lists differ. */
int ns_privacy_acct_merge(struct ns_privacy_acct *dst,
                          const struct ns_privacy_acct *src);

/* The smallest ε over the orders for this δ in (0, 1), clamped at 0, and
 * the order that gives it (the first on a tie). ε = +inf and order = NAN
 * when every order's RDP is infinite. Returns 0, or -1 for a δ out of
 * range or an unknown conversion. */
int ns_privacy_acct_epsilon(const struct ns_privacy_acct *a, double delta,
                            enum ns_privacy_conversion conv, double *eps,
                            double *order);

/* Chernoff: an upper bound on P(Binomial(n, q) ≥ k), exp(−n·KL(k/n ‖ q))
 * for k > nq and 1 otherwise (0 for k > n or q = 0 < k). The caller adds
 * it to δ when a Poisson batch that overflows a fixed buffer of k − 1
 * records is cut. NAN for q outside [0, 1]. */
double ns_binomial_upper_tail(uint64_t n, double q, uint64_t k);

/* The smallest k with ns_binomial_upper_tail(n, q, k) ≤ p, p in (0, 1]:
 * a buffer of k − 1 records overflows with probability at most p. At most
 * n + 1, where the bound is 0. */
uint64_t ns_binomial_tail_k(uint64_t n, double q, double p);

/* The compact text form, for checkpoints:
 *   {"version":1,"orders":[1.25,...],"rdp":[0.0012,...,"inf"]}
 * numbers with 17 significant digits (they read back bit for bit), an
 * infinite RDP as the string "inf". Returns a malloc'd string, or NULL
 * when memory runs out. */
char *ns_privacy_acct_to_json(const struct ns_privacy_acct *a);

/* Read that form from (text, len), which need not end in a NUL. Every
 * field is checked: the version, the keys (unknown or repeated ones are
 * refused), the orders as for ns_privacy_acct_init_orders (ascending
 * here), one RDP per order, each ≥ 0 or "inf". Returns 0, or -1 with *a
 * untouched and a message naming the field and the cause in err. */
int ns_privacy_acct_parse(struct ns_privacy_acct *a, const char *text,
                          size_t len, char *err, size_t errlen);

#endif
