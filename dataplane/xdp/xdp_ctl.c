/* Control of the XDP front filter: find it on an interface, set its
 * sampling, read its counters; attach and detach it. */
#include <errno.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <linux/bpf.h>
#include <linux/if_link.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "netshare/xdp_ctl.h"

const char *const ns_xdp_counter_names[NS_XDP_CNT_MAX] = {
    [NS_XDP_CNT_SEEN] = "seen",
    [NS_XDP_CNT_DROP_NON_IP] = "drop_non_ip",
    [NS_XDP_CNT_DROP_MALFORMED] = "drop_malformed",
    [NS_XDP_CNT_DROP_SAMPLED] = "drop_sampled",
    [NS_XDP_CNT_REDIRECTED] = "redirected",
    [NS_XDP_CNT_PASSED] = "passed",
};

__attribute__((format(printf, 3, 4))) static void
seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

const char *
ns_xdp_mode_name(enum ns_xdp_mode m)
{
	switch (m) {
	case NS_XDP_MODE_GENERIC:
		return "generic";
	case NS_XDP_MODE_NATIVE:
		return "native";
	case NS_XDP_MODE_ANY:
		break;
	}
	return "any";
}

int
ns_xdp_mode_parse(const char *s, enum ns_xdp_mode *m)
{
	if (!s || !m)
		return -1;
	if (strcmp(s, "generic") == 0 || strcmp(s, "skb") == 0)
		*m = NS_XDP_MODE_GENERIC;
	else if (strcmp(s, "native") == 0 || strcmp(s, "drv") == 0)
		*m = NS_XDP_MODE_NATIVE;
	else if (strcmp(s, "any") == 0)
		*m = NS_XDP_MODE_ANY;
	else
		return -1;
	return 0;
}

/* Why a bpf() call on objects of others failed, in words. */
static const char *
perm_hint(int e)
{
	return e == EPERM || e == EACCES ? " (needs root: CAP_SYS_ADMIN)" : "";
}

static int
lookup_ifindex(const char *ifname, int *ifindex, char *err, size_t errlen)
{
	unsigned int idx;

	if (!ifname || !*ifname) {
		seterr(err, errlen, "no interface name given");
		return -EINVAL;
	}
	if (strlen(ifname) >= IF_NAMESIZE) {
		seterr(err, errlen,
		       "interface name '%s' is longer than %d "
		       "characters",
		       ifname, IF_NAMESIZE - 1);
		return -EINVAL;
	}
	idx = if_nametoindex(ifname);
	if (idx == 0) {
		int e = errno ? errno : ENODEV;

		if (e == ENODEV || e == ENXIO)
			seterr(err, errlen,
			       "interface '%s' does not exist "
			       "(in this network namespace)",
			       ifname);
		else
			seterr(err, errlen, "interface '%s': %s", ifname,
			       strerror(e));
		return -ENODEV;
	}
	*ifindex = (int)idx;
	return 0;
}

static int
query(const char *ifname, int ifindex, struct bpf_xdp_query_opts *q, char *err,
      size_t errlen)
{
	int r;

	memset(q, 0, sizeof(*q));
	q->sz = sizeof(*q);
	r = bpf_xdp_query(ifindex, 0, q);
	if (r < 0) {
		seterr(err, errlen, "cannot query the XDP state of '%s': %s",
		       ifname, strerror(-r));
		return r;
	}
	return 0;
}

/* Check a control map's shape; 0 or -EPROTO. */
static int
check_map(const struct bpf_map_info *mi, __u32 type, __u32 value_size,
          __u32 min_entries, const char *ifname, char *err, size_t errlen)
{
	if (mi->type == type && mi->key_size == 4 &&
	    mi->value_size == value_size && mi->max_entries >= min_entries)
		return 0;
	seterr(err, errlen,
	       "map %s of the program on '%s' has type %u, key "
	       "%u B, value %u B, %u entries; expected type %u, key 4 B, "
	       "value %u B, >= %u entries (another build of the filter?)",
	       mi->name, ifname, mi->type, mi->key_size, mi->value_size,
	       mi->max_entries, type, value_size, min_entries);
	return -EPROTO;
}

/* Find the control maps among the program's maps. */
static int
find_maps(struct ns_xdp *x, char *err, size_t errlen)
{
	struct bpf_prog_info pi;
	__u32 len = sizeof(pi), nmaps, i;
	__u32 *ids = NULL;
	int r;

	memset(&pi, 0, sizeof(pi));
	r = bpf_obj_get_info_by_fd(x->prog_fd, &pi, &len);
	if (r < 0) {
		r = -errno;
		seterr(err, errlen,
		       "cannot read the info of XDP program %u: "
		       "%s",
		       x->prog_id, strerror(-r));
		return r;
	}
	snprintf(x->prog_name, sizeof(x->prog_name), "%s", pi.name);
	nmaps = pi.nr_map_ids;
	if (nmaps > 0) {
		ids = calloc(nmaps, sizeof(*ids));
		if (!ids) {
			seterr(err, errlen, "out of memory");
			return -ENOMEM;
		}
		memset(&pi, 0, sizeof(pi));
		pi.nr_map_ids = nmaps;
		pi.map_ids = (__u64)(unsigned long)ids;
		len = sizeof(pi);
		r = bpf_obj_get_info_by_fd(x->prog_fd, &pi, &len);
		if (r < 0) {
			r = -errno;
			seterr(err, errlen,
			       "cannot read the map ids of XDP "
			       "program %u: %s",
			       x->prog_id, strerror(-r));
			free(ids);
			return r;
		}
		if (pi.nr_map_ids < nmaps)
			nmaps = pi.nr_map_ids;
	}

	r = 0;
	for (i = 0; i < nmaps && r == 0; i++) {
		struct bpf_map_info mi;
		__u32 mlen = sizeof(mi);
		int fd = bpf_map_get_fd_by_id(ids[i]);
		int *slot = NULL;

		if (fd < 0) {
			r = -errno;
			seterr(err, errlen,
			       "cannot open map %u of XDP program "
			       "%u: %s%s",
			       ids[i], x->prog_id, strerror(-r),
			       perm_hint(-r));
			break;
		}
		memset(&mi, 0, sizeof(mi));
		if (bpf_obj_get_info_by_fd(fd, &mi, &mlen) < 0) {
			r = -errno;
			seterr(err, errlen,
			       "cannot read the info of map %u: %s", ids[i],
			       strerror(-r));
			close(fd);
			break;
		}
		if (strcmp(mi.name, NS_XDP_CONFIG_MAP) == 0 &&
		    x->config_fd < 0) {
			r = check_map(&mi, BPF_MAP_TYPE_ARRAY, 4,
			              NS_XDP_CFG_MAX, x->ifname, err, errlen);
			slot = &x->config_fd;
		} else if (strcmp(mi.name, NS_XDP_COUNTERS_MAP) == 0 &&
		           x->counters_fd < 0) {
			r = check_map(&mi, BPF_MAP_TYPE_PERCPU_ARRAY, 8,
			              NS_XDP_CNT_MAX, x->ifname, err, errlen);
			slot = &x->counters_fd;
		}
		if (slot && r == 0)
			*slot = fd;
		else
			close(fd);
	}
	free(ids);
	if (r < 0)
		return r;

	if (x->config_fd < 0 || x->counters_fd < 0) {
		seterr(err, errlen,
		       "XDP program %u ('%s') on '%s' has no map "
		       "'%s': it is not the NetShare filter "
		       "(ns_xdp_filter.bpf.o)",
		       x->prog_id, x->prog_name, x->ifname,
		       x->config_fd < 0 ? NS_XDP_CONFIG_MAP
		                        : NS_XDP_COUNTERS_MAP);
		return -ENOENT;
	}
	return 0;
}

/* The program in use on ifindex: native before generic. */
static int
pick_prog(const char *ifname, int ifindex, uint32_t *prog_id,
          enum ns_xdp_mode *mode, char *err, size_t errlen)
{
	struct bpf_xdp_query_opts q;
	int r = query(ifname, ifindex, &q, err, errlen);

	if (r < 0)
		return r;
	if (q.drv_prog_id) {
		*prog_id = q.drv_prog_id;
		*mode = NS_XDP_MODE_NATIVE;
	} else if (q.skb_prog_id) {
		*prog_id = q.skb_prog_id;
		*mode = NS_XDP_MODE_GENERIC;
	} else if (q.hw_prog_id) {
		seterr(err, errlen,
		       "'%s' has only an offloaded (hw) XDP "
		       "program, which this tool does not handle",
		       ifname);
		return -EOPNOTSUPP;
	} else {
		seterr(err, errlen, "no XDP program attached to '%s'", ifname);
		return -ENOENT;
	}
	return 0;
}

int
ns_xdp_query(const char *ifname, uint32_t *prog_id, enum ns_xdp_mode *mode,
             char *err, size_t errlen)
{
	int ifindex, r;

	if (!prog_id || !mode) {
		seterr(err, errlen, "no result pointers given");
		return -EINVAL;
	}
	r = lookup_ifindex(ifname, &ifindex, err, errlen);
	if (r < 0)
		return r;
	return pick_prog(ifname, ifindex, prog_id, mode, err, errlen);
}

int
ns_xdp_open(struct ns_xdp *x, const char *ifname, char *err, size_t errlen)
{
	int r, ncpus;

	if (!x) {
		seterr(err, errlen, "no handle given");
		return -EINVAL;
	}
	memset(x, 0, sizeof(*x));
	x->prog_fd = x->config_fd = x->counters_fd = -1;

	r = lookup_ifindex(ifname, &x->ifindex, err, errlen);
	if (r < 0)
		return r;
	snprintf(x->ifname, sizeof(x->ifname), "%s", ifname);

	r = pick_prog(ifname, x->ifindex, &x->prog_id, &x->mode, err, errlen);
	if (r < 0)
		return r;

	x->prog_fd = bpf_prog_get_fd_by_id(x->prog_id);
	if (x->prog_fd < 0) {
		r = -errno;
		seterr(err, errlen, "cannot open XDP program %u of '%s': %s%s",
		       x->prog_id, ifname, strerror(-r), perm_hint(-r));
		x->prog_fd = -1;
		return r;
	}

	r = find_maps(x, err, errlen);
	if (r < 0) {
		ns_xdp_close(x);
		return r;
	}

	ncpus = libbpf_num_possible_cpus();
	if (ncpus <= 0) {
		seterr(err, errlen, "cannot count the possible CPUs: %s",
		       strerror(ncpus < 0 ? -ncpus : EINVAL));
		ns_xdp_close(x);
		return ncpus < 0 ? ncpus : -EINVAL;
	}
	x->ncpus = ncpus;
	return 0;
}

void
ns_xdp_close(struct ns_xdp *x)
{
	if (!x)
		return;
	if (x->prog_fd >= 0)
		close(x->prog_fd);
	if (x->config_fd >= 0)
		close(x->config_fd);
	if (x->counters_fd >= 0)
		close(x->counters_fd);
	x->prog_fd = x->config_fd = x->counters_fd = -1;
}

static int
check_open(const struct ns_xdp *x, char *err, size_t errlen)
{
	if (!x || x->config_fd < 0 || x->counters_fd < 0 || x->ncpus <= 0) {
		seterr(err, errlen, "XDP handle is not open");
		return -EBADF;
	}
	return 0;
}

int
ns_xdp_set_sample(struct ns_xdp *x, uint32_t n, char *err, size_t errlen)
{
	__u32 key = NS_XDP_CFG_SAMPLE_N, val = n;
	int r = check_open(x, err, errlen);

	if (r < 0)
		return r;
	if (n < 1) {
		seterr(err, errlen,
		       "sampling N must be >= 1 (1 keeps every "
		       "frame)");
		return -EINVAL;
	}
	if (bpf_map_update_elem(x->config_fd, &key, &val, BPF_ANY) < 0) {
		r = -errno;
		seterr(err, errlen, "cannot set sampling on '%s': %s",
		       x->ifname, strerror(-r));
		return r;
	}
	return 0;
}

int
ns_xdp_get_sample(struct ns_xdp *x, uint32_t *n, char *err, size_t errlen)
{
	__u32 key = NS_XDP_CFG_SAMPLE_N, val = 0;
	int r = check_open(x, err, errlen);

	if (r < 0)
		return r;
	if (bpf_map_lookup_elem(x->config_fd, &key, &val) < 0) {
		r = -errno;
		seterr(err, errlen, "cannot read sampling of '%s': %s",
		       x->ifname, strerror(-r));
		return r;
	}
	*n = val > 1 ? val : 1;
	return 0;
}

int
ns_xdp_read_stats(struct ns_xdp *x, struct ns_xdp_stats *s, char *err,
                  size_t errlen)
{
	__u64 *vals;
	__u32 key;
	int r = check_open(x, err, errlen);

	if (r < 0)
		return r;
	vals = calloc((size_t)x->ncpus, sizeof(*vals));
	if (!vals) {
		seterr(err, errlen, "out of memory");
		return -ENOMEM;
	}
	memset(s, 0, sizeof(*s));
	for (key = 0; key < NS_XDP_CNT_MAX; key++) {
		int cpu;

		if (bpf_map_lookup_elem(x->counters_fd, &key, vals) < 0) {
			r = -errno;
			seterr(err, errlen,
			       "cannot read counter %s of '%s': %s",
			       ns_xdp_counter_names[key], x->ifname,
			       strerror(-r));
			break;
		}
		for (cpu = 0; cpu < x->ncpus; cpu++)
			s->c[key] += vals[cpu];
	}
	free(vals);
	return r;
}

static __u32
mode_flags(enum ns_xdp_mode m)
{
	switch (m) {
	case NS_XDP_MODE_GENERIC:
		return XDP_FLAGS_SKB_MODE;
	case NS_XDP_MODE_NATIVE:
		return XDP_FLAGS_DRV_MODE;
	case NS_XDP_MODE_ANY:
		break;
	}
	return 0;
}

int
ns_xdp_attach(const char *ifname, const char *obj_path, enum ns_xdp_mode mode,
              char *err, size_t errlen)
{
	struct bpf_object *obj;
	struct bpf_program *prog;
	int ifindex, r, fd;

	r = lookup_ifindex(ifname, &ifindex, err, errlen);
	if (r < 0)
		return r;
	if (!obj_path || !*obj_path) {
		seterr(err, errlen, "no BPF object file given");
		return -EINVAL;
	}
	if (access(obj_path, R_OK) != 0) {
		r = -errno;
		seterr(err, errlen, "cannot read '%s': %s", obj_path,
		       strerror(-r));
		return r;
	}

	obj = bpf_object__open_file(obj_path, NULL);
	if (!obj) {
		r = -errno;
		seterr(err, errlen,
		       "'%s' is not a BPF object libbpf can "
		       "open: %s",
		       obj_path, strerror(-r));
		return r;
	}
	/* What net_af_xdp requires of an xdp_prog= object. */
	if (!bpf_object__find_map_by_name(obj, NS_XDP_XSKS_MAP)) {
		seterr(err, errlen,
		       "'%s' has no map '%s' (DPDK's net_af_xdp "
		       "needs it)",
		       obj_path, NS_XDP_XSKS_MAP);
		r = -ENOENT;
		goto out;
	}
	prog = bpf_object__next_program(obj, NULL);
	if (!prog || bpf_program__type(prog) != BPF_PROG_TYPE_XDP) {
		seterr(err, errlen,
		       "the first program of '%s' is not an XDP "
		       "program (SEC(\"xdp\"))",
		       obj_path);
		r = -EINVAL;
		goto out;
	}
	r = bpf_object__load(obj);
	if (r < 0) {
		seterr(err, errlen,
		       "the kernel refused '%s': %s (libbpf's "
		       "log, with the verifier's, is above)",
		       obj_path, strerror(-r));
		goto out;
	}
	fd = bpf_program__fd(prog);
	r = bpf_xdp_attach(
	    ifindex, fd, XDP_FLAGS_UPDATE_IF_NOEXIST | mode_flags(mode), NULL);
	if (r == -EBUSY || r == -EEXIST)
		seterr(err, errlen,
		       "'%s' already has an XDP program: detach "
		       "it first",
		       ifname);
	else if (r == -EOPNOTSUPP && mode == NS_XDP_MODE_NATIVE)
		seterr(err, errlen,
		       "the driver of '%s' has no native XDP "
		       "(try --mode generic)",
		       ifname);
	else if (r < 0)
		seterr(err, errlen, "cannot attach '%s' to '%s' (%s mode): %s",
		       obj_path, ifname, ns_xdp_mode_name(mode), strerror(-r));
out:
	bpf_object__close(obj);
	return r < 0 ? r : 0;
}

int
ns_xdp_detach(const char *ifname, char *err, size_t errlen)
{
	static const struct {
		__u32 flag;
		const char *name;
	} modes[] = {
	    {XDP_FLAGS_SKB_MODE, "generic"},
	    {XDP_FLAGS_DRV_MODE, "native"},
	    {XDP_FLAGS_HW_MODE, "hw"},
	};
	struct bpf_xdp_query_opts q;
	__u32 ids[3];
	int ifindex, r, i, found = 0;

	r = lookup_ifindex(ifname, &ifindex, err, errlen);
	if (r < 0)
		return r;
	r = query(ifname, ifindex, &q, err, errlen);
	if (r < 0)
		return r;
	ids[0] = q.skb_prog_id;
	ids[1] = q.drv_prog_id;
	ids[2] = q.hw_prog_id;
	for (i = 0; i < 3; i++) {
		if (!ids[i])
			continue;
		found = 1;
		r = bpf_xdp_detach(ifindex, modes[i].flag, NULL);
		if (r < 0) {
			seterr(err, errlen,
			       "cannot detach the %s XDP program "
			       "%u from '%s': %s",
			       modes[i].name, ids[i], ifname, strerror(-r));
			return r;
		}
	}
	if (!found) {
		seterr(err, errlen, "no XDP program attached to '%s'", ifname);
		return -ENOENT;
	}
	return 0;
}
