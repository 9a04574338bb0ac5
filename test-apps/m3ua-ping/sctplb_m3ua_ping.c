/* sctplb-m3ua-ping: an M3UA ASP with one SCCP user, built on libosmo-sigtran 1.6 (Debian
 * libosmo-sigtran-dev), for the VM suite's M3UA scenario (tests/vm/apps/app-m3ua.sh).
 *
 *   sctplb-m3ua-ping -c CONFIG -n NAME -a AS -d DPC [-s SSN] [-o OWN_SSN] [-i INTERVAL_MS]
 *
 * CONFIG is an osmo-stp style file (cs7 instance 0 with its point code, the ASP and the AS,
 * logging, line vty), read by libosmo-sigtran's own VTY in ASP role: the library connects the
 * ASP (SCTP, ASPUP, ASPAC) and runs its state machines. The program only adds a default route
 * to AS, an SCCP instance and one SCCP user on OWN_SSN (default 200), and, while AS is active,
 * sends one SCCP UDT every INTERVAL_MS (default 500) to DPC / SSN (default 201), the data
 * being "sctplb-m3ua-ping SEQ". Nobody serves SSN at DPC: osmo-stp's SCCP (the STP has one
 * when its configuration names an sccp-timer) answers with a UDTS carrying the same data back
 * to the calling address (Q.714 routing failure, cause "unequipped user"), which arrives here
 * as N-NOTICE.indication. Every M3UA DATA goes through the LBs, both ways.
 *
 * /tmp/m3ua-ping-NAME.stat is kept up to date (one line, rewritten atomically):
 *   "NAME sent S answered A bad B expired E pending P oldest_ms O maxrtt_ms M pcstate C"
 * (bad: a notice whose data is not one of ours, or a duplicate, or another primitive than
 * N-NOTICE and N-PCSTATE; pending: UDTs without their UDTS; oldest_ms: the age of the oldest of
 * them; expired: still none after 60 s; pcstate: N-PCSTATE.indications, the SG's signalling
 * point state reports (M3UA DUNA/DAVA), each logged).
 * Sending stops when /tmp/m3ua-ping-NAME.stop exists (the pending answers are still counted).
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <osmocom/core/application.h>
#include <osmocom/core/logging.h>
#include <osmocom/core/msgb.h>
#include <osmocom/core/select.h>
#include <osmocom/core/talloc.h>
#include <osmocom/core/timer.h>
#include <osmocom/vty/logging.h>
#include <osmocom/vty/telnet_interface.h>
#include <osmocom/vty/vty.h>

#include <osmocom/sigtran/osmo_ss7.h>
#include <osmocom/sigtran/sccp_helpers.h>
#include <osmocom/sigtran/sccp_sap.h>

#define PING_MAX_SEQ 65536 /* ~9 hours at one UDT per 500 ms */
#define PING_EXPIRE_MS 60000
#define PING_VTY_PORT 4239 /* osmo-stp's; the configuration's "line vty / bind" keeps them apart */
#define PING_PREFIX "sctplb-m3ua-ping "

static const char *name, *as_name, *dpc_str;
static unsigned called_ssn = 201, own_ssn = 200;
static long interval_ms = 500;

static struct osmo_ss7_as *as;
static struct osmo_sccp_user *scu;
static struct osmo_sccp_addr calling, called;
static struct osmo_timer_list send_timer, stat_timer;
static uint32_t next_seq = 1, low_water = 1;
static long long sent_at[PING_MAX_SEQ]; /* 0: not sent, or answered */
static unsigned long n_sent, n_answered, n_bad, n_expired, n_pcstate;
static long long max_rtt;
static volatile sig_atomic_t quit;

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void write_stat(void)
{
	char path[160], tmp[168];
	long long oldest = 0, now = now_ms();
	uint32_t seq;
	FILE *f;

	/* Expire what waited too long; find the oldest still waiting. */
	for (seq = low_water; seq < next_seq; seq++) {
		if (sent_at[seq] != 0 && now - sent_at[seq] > PING_EXPIRE_MS) {
			sent_at[seq] = 0;
			n_expired++;
		}
	}
	while (low_water < next_seq && sent_at[low_water] == 0)
		low_water++;
	if (low_water < next_seq)
		oldest = now - sent_at[low_water];

	snprintf(path, sizeof path, "/tmp/m3ua-ping-%s.stat", name);
	snprintf(tmp, sizeof tmp, "%s.new", path);
	if (!(f = fopen(tmp, "w")))
		return;
	fprintf(f, "%s sent %lu answered %lu bad %lu expired %lu pending %lu oldest_ms %lld maxrtt_ms %lld pcstate %lu\n",
		name, n_sent, n_answered, n_bad, n_expired, n_sent - n_answered - n_expired, oldest, max_rtt, n_pcstate);
	if (fclose(f) == 0)
		rename(tmp, path);
}

static void stat_cb(void *data)
{
	(void)data;
	write_stat();
	osmo_timer_schedule(&stat_timer, 1, 0);
}

static int stopped(void)
{
	char stop[160];
	snprintf(stop, sizeof stop, "/tmp/m3ua-ping-%s.stop", name);
	return access(stop, F_OK) == 0;
}

static void send_cb(void *data)
{
	char buf[64];
	int len;
	(void)data;

	osmo_timer_schedule(&send_timer, interval_ms / 1000, (interval_ms % 1000) * 1000);
	if (stopped() || !osmo_ss7_as_active(as) || next_seq >= PING_MAX_SEQ)
		return;
	len = snprintf(buf, sizeof buf, PING_PREFIX "%u", next_seq);
	sent_at[next_seq] = now_ms();
	next_seq++;
	n_sent++;
	/* A UDT that cannot be routed is lost here (never answered): it expires and is counted. */
	if (osmo_sccp_tx_unitdata(scu, &calling, &called, (const uint8_t *)buf, len) < 0)
		printf("sctplb-m3ua-ping: %s: UDT %u not sent\n", name, next_seq - 1);
}

/* The UDTS: its data is a UDT's of ours. */
static void rx_notice(const uint8_t *data, unsigned len, unsigned cause)
{
	char buf[64];
	char *end;
	unsigned long seq;

	if (len == 0 || len >= sizeof buf) {
		n_bad++;
		return;
	}
	memcpy(buf, data, len);
	buf[len] = '\0';
	if (strncmp(buf, PING_PREFIX, strlen(PING_PREFIX)) != 0) {
		n_bad++;
		return;
	}
	seq = strtoul(buf + strlen(PING_PREFIX), &end, 10);
	if (*end != '\0' || seq == 0 || seq >= next_seq || sent_at[seq] == 0) {
		printf("sctplb-m3ua-ping: %s: unexpected notice '%s' (cause 0x%x)\n", name, buf, cause);
		n_bad++;
		return;
	}
	long long rtt = now_ms() - sent_at[seq];
	if (rtt > max_rtt)
		max_rtt = rtt;
	sent_at[seq] = 0;
	n_answered++;
}

static int scu_prim_cb(struct osmo_prim_hdr *oph, void *ctx)
{
	struct osmo_scu_prim *prim = (struct osmo_scu_prim *)oph;
	(void)ctx;

	switch (OSMO_PRIM_HDR(oph)) {
	case OSMO_PRIM(OSMO_SCU_PRIM_N_NOTICE, PRIM_OP_INDICATION):
		rx_notice(msgb_l2(oph->msg), msgb_l2len(oph->msg), prim->u.notice.cause);
		break;
	case OSMO_PRIM(OSMO_SCU_PRIM_N_PCSTATE, PRIM_OP_INDICATION):
		n_pcstate++;
		printf("sctplb-m3ua-ping: %s: N-PCSTATE.indication: point code %u sp_status %d remote_sccp_status %d\n",
			name, prim->u.pcstate.affected_pc, (int)prim->u.pcstate.sp_status,
			(int)prim->u.pcstate.remote_sccp_status);
		break;
	default:
		printf("sctplb-m3ua-ping: %s: unexpected primitive %s\n", name, osmo_scu_prim_name(oph));
		n_bad++;
		break;
	}
	msgb_free(oph->msg);
	return 0;
}

static void on_signal(int sig)
{
	(void)sig;
	quit = 1;
}

static const struct log_info_cat ping_log_cat[] = {
	[0] = { .name = "DPING", .description = "sctplb-m3ua-ping", .enabled = 1, .loglevel = LOGL_NOTICE },
};
static const struct log_info ping_log_info = { .cat = ping_log_cat, .num_cat = 1 };

static struct vty_app_info vty_info = {
	.name = "sctplb-m3ua-ping",
	.version = "1",
	.go_parent_cb = osmo_ss7_vty_go_parent,
};

static void usage(void)
{
	fprintf(stderr, "usage: sctplb-m3ua-ping -c CONFIG -n NAME -a AS -d DPC [-s SSN] [-o OWN_SSN] [-i INTERVAL_MS]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	const char *config = NULL;
	struct osmo_ss7_instance *inst;
	struct osmo_sccp_instance *sccp;
	void *ctx;
	int opt, dpc;

	while ((opt = getopt(argc, argv, "c:n:a:d:s:o:i:")) != -1) {
		switch (opt) {
		case 'c': config = optarg; break;
		case 'n': name = optarg; break;
		case 'a': as_name = optarg; break;
		case 'd': dpc_str = optarg; break;
		case 's': called_ssn = (unsigned)atoi(optarg); break;
		case 'o': own_ssn = (unsigned)atoi(optarg); break;
		case 'i': interval_ms = atol(optarg); break;
		default: usage();
		}
	}
	if (!config || !name || !as_name || !dpc_str || interval_ms < 10 || called_ssn > 255 || own_ssn > 255)
		usage();
	setvbuf(stdout, NULL, _IOLBF, 0);

	ctx = talloc_named_const(NULL, 1, "sctplb-m3ua-ping");
	msgb_talloc_ctx_init(ctx, 0);
	osmo_init_logging2(ctx, &ping_log_info);
	vty_info.tall_ctx = ctx;
	vty_init(&vty_info);
	if (osmo_ss7_init() != 0) {
		fprintf(stderr, "sctplb-m3ua-ping: osmo_ss7_init failed\n");
		return 1;
	}
	logging_vty_add_cmds();
	osmo_ss7_vty_init_asp(ctx);
	if (vty_read_config_file(config, NULL) < 0) {
		fprintf(stderr, "sctplb-m3ua-ping: cannot read %s\n", config);
		return 1;
	}
	if (telnet_init_dynif(ctx, NULL, vty_get_bind_addr(), PING_VTY_PORT) < 0) {
		fprintf(stderr, "sctplb-m3ua-ping: cannot bind the VTY\n");
		return 1;
	}

	inst = osmo_ss7_instance_find(0);
	if (!inst || !(as = osmo_ss7_as_find_by_name(inst, as_name))) {
		fprintf(stderr, "sctplb-m3ua-ping: no cs7 instance 0 with AS %s in %s\n", as_name, config);
		return 1;
	}
	dpc = osmo_ss7_pointcode_parse(inst, dpc_str);
	if (dpc < 0) {
		fprintf(stderr, "sctplb-m3ua-ping: invalid point code %s\n", dpc_str);
		return 1;
	}
	/* Everything that is not ours goes to the SG through AS (what an ASP's default route is). */
	if (!osmo_ss7_route_create(inst->rtable_system, 0, 0, as_name)) {
		fprintf(stderr, "sctplb-m3ua-ping: cannot create the default route to %s\n", as_name);
		return 1;
	}
	sccp = osmo_ss7_ensure_sccp(inst);
	if (!sccp || !(scu = osmo_sccp_user_bind(sccp, "sctplb-m3ua-ping", scu_prim_cb, own_ssn))) {
		fprintf(stderr, "sctplb-m3ua-ping: cannot bind SCCP SSN %u\n", own_ssn);
		return 1;
	}
	if ((uint32_t)dpc == inst->cfg.primary_pc) {
		/* Our own point code: the UDT would be returned by our own SCCP, never leave. */
		fprintf(stderr, "sctplb-m3ua-ping: %s is our own point code\n", dpc_str);
		return 1;
	}
	osmo_sccp_make_addr_pc_ssn(&calling, inst->cfg.primary_pc, own_ssn);
	osmo_sccp_make_addr_pc_ssn(&called, (uint32_t)dpc, called_ssn);
	printf("sctplb-m3ua-ping: %s: AS %s, UDT every %ld ms from %s SSN %u to %s SSN %u\n", name, as_name,
		interval_ms, osmo_ss7_pointcode_print(inst, inst->cfg.primary_pc), own_ssn, dpc_str, called_ssn);

	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	osmo_init_ignore_signals();
	osmo_timer_setup(&send_timer, send_cb, NULL);
	osmo_timer_setup(&stat_timer, stat_cb, NULL);
	osmo_timer_schedule(&send_timer, 0, 0);
	stat_cb(NULL);
	while (!quit)
		osmo_select_main(0);
	write_stat();
	printf("sctplb-m3ua-ping: %s: sent %lu answered %lu bad %lu expired %lu\n", name, n_sent, n_answered, n_bad, n_expired);
	return 0;
}
