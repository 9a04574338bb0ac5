/* sctplb_echo.fdx: a minimal Diameter test application for freeDiameter 1.2.1 (Debian ships no
 * test_app.fdx), loaded by tests/vm/apps/app-diameter.sh in the VM guests.
 *
 * One vendor-specific application (vendor 999999, application 16777214) with one command
 * (Sctplb-Echo-Request/Answer, code 16777214: the experimental range of RFC 6733 section 11.2.1)
 * and two AVPs: Sctplb-Echo-Sequence (Unsigned32) and Sctplb-Echo-Server (OctetString).
 *
 *   LoadExtension = "sctplb_echo.fdx" : "server NAME";
 *       answers every request: Result-Code 2001, the request's sequence number, NAME.
 *   LoadExtension = "sctplb_echo.fdx" : "client NAME PEER REALM INTERVAL_MS";
 *       sends one request every INTERVAL_MS to PEER (Destination-Host) while the peer is OPEN
 *       and /tmp/echo-NAME.stop does not exist; logs each answer ("sctplb_echo: answer seq N
 *       result R from SERVER rtt MS ms").
 * Both keep /tmp/echo-NAME.stat up to date (one line, rewritten atomically):
 *   server: "NAME answered N"
 *   client: "NAME sent S answered A bad B expired E pending P oldest_ms O maxrtt_ms M"
 *   (bad: an answer with another Result-Code or another sequence number; pending: requests
 *   without an answer; oldest_ms: the age of the oldest of them; expired: none after 60 s).
 */
#include <freeDiameter/extension.h>

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define ECHO_VENDOR 999999
#define ECHO_APPLICATION 16777214
#define ECHO_COMMAND 16777214
#define ECHO_AVP_SEQUENCE 1
#define ECHO_AVP_SERVER 2
#define ECHO_MAX_SEQ 65536 /* ~9 hours at one request per 500 ms */

static struct dict_object *vendor, *application, *cmd_request, *cmd_answer;
static struct dict_object *avp_sequence, *avp_server, *avp_result_code, *avp_dest_host, *avp_dest_realm;
static struct disp_hdl *handler;

static int is_client;
static char name[64], peer[256], realm[256];
static long interval_ms = 500;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_t sender;
static volatile int stopping;
static uint32_t next_seq = 1, low_water = 1;
static long long sent_at[ECHO_MAX_SEQ]; /* 0: not sent or answered */
static unsigned long n_sent, n_answered, n_bad, n_expired;
static long long max_rtt;

struct pending {
	uint32_t seq;
	long long sent;
};

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Called with lock held. */
static void write_stat(void)
{
	char path[128], tmp[136];
	FILE *f;
	snprintf(path, sizeof path, "/tmp/echo-%s.stat", name);
	snprintf(tmp, sizeof tmp, "%s.new", path);
	if (!(f = fopen(tmp, "w")))
		return;
	if (is_client) {
		long long oldest = 0, now = now_ms();
		while (low_water < next_seq && sent_at[low_water] == 0)
			low_water++;
		if (low_water < next_seq)
			oldest = now - sent_at[low_water];
		fprintf(f, "%s sent %lu answered %lu bad %lu expired %lu pending %lu oldest_ms %lld maxrtt_ms %lld\n", name,
			n_sent, n_answered, n_bad, n_expired, n_sent - n_answered - n_bad - n_expired, oldest, max_rtt);
	} else {
		fprintf(f, "%s answered %lu\n", name, n_answered);
	}
	fclose(f);
	rename(tmp, path);
}

static int add_u32(struct msg *m, struct dict_object *model, uint32_t v)
{
	struct avp *a = NULL;
	union avp_value val = {.u32 = v};
	CHECK_FCT(fd_msg_avp_new(model, 0, &a));
	CHECK_FCT(fd_msg_avp_setvalue(a, &val));
	CHECK_FCT(fd_msg_avp_add(m, MSG_BRW_LAST_CHILD, a));
	return 0;
}

static int add_str(struct msg *m, struct dict_object *model, const char *s)
{
	struct avp *a = NULL;
	union avp_value val;
	val.os.data = (uint8_t *)s;
	val.os.len = strlen(s);
	CHECK_FCT(fd_msg_avp_new(model, 0, &a));
	CHECK_FCT(fd_msg_avp_setvalue(a, &val));
	CHECK_FCT(fd_msg_avp_add(m, MSG_BRW_LAST_CHILD, a));
	return 0;
}

/* The value of the first AVP of MODEL in M, or NULL. */
static union avp_value *avp_of(struct msg *m, struct dict_object *model)
{
	struct avp *a = NULL;
	struct avp_hdr *h = NULL;
	if (fd_msg_search_avp(m, model, &a) || !a || fd_msg_avp_hdr(a, &h) || !h)
		return NULL;
	return h->avp_value;
}

/* Server: answer every request. */
static int on_request(struct msg **msg, struct avp *avp, struct session *sess, void *opaque, enum disp_action *act)
{
	union avp_value *seq;
	uint32_t s = 0;
	(void)avp, (void)sess, (void)opaque;
	if ((seq = avp_of(*msg, avp_sequence)))
		s = seq->u32;
	CHECK_FCT(fd_msg_new_answer_from_req(fd_g_config->cnf_dict, msg, 0));
	CHECK_FCT(fd_msg_rescode_set(*msg, "DIAMETER_SUCCESS", NULL, NULL, 1));
	CHECK_FCT(add_u32(*msg, avp_sequence, s));
	CHECK_FCT(add_str(*msg, avp_server, name));
	CHECK_FCT(fd_msg_send(msg, NULL, NULL));
	pthread_mutex_lock(&lock);
	n_answered++;
	write_stat();
	pthread_mutex_unlock(&lock);
	*act = DISP_ACT_CONT;
	return 0;
}

/* Client: an answer (or a local error answer: no route, peer gone). */
static void on_answer(void *data, struct msg **msg)
{
	struct pending *p = data;
	union avp_value *rc = avp_of(*msg, avp_result_code), *seq = avp_of(*msg, avp_sequence),
			*server = avp_of(*msg, avp_server);
	uint32_t result = rc ? rc->u32 : 0, s = seq ? seq->u32 : 0;
	long long rtt = now_ms() - p->sent;
	int good = result == 2001 && seq && s == p->seq;
	fd_log_notice("sctplb_echo: answer seq %u result %u from %.*s rtt %lld ms%s", p->seq, result,
		      server ? (int)server->os.len : 1, server ? (char *)server->os.data : "-", rtt,
		      good ? "" : (seq && s != p->seq ? " WRONG-SEQUENCE" : " BAD"));
	pthread_mutex_lock(&lock);
	if (good)
		n_answered++;
	else
		n_bad++;
	sent_at[p->seq] = 0;
	if (rtt > max_rtt)
		max_rtt = rtt;
	write_stat();
	pthread_mutex_unlock(&lock);
	free(p);
	fd_msg_free(*msg);
	*msg = NULL;
}

static void on_expire(void *data, DiamId_t sentto, size_t senttolen, struct msg **req)
{
	struct pending *p = data;
	fd_log_notice("sctplb_echo: request seq %u to %.*s EXPIRED", p->seq, (int)senttolen, sentto ? (char *)sentto : "-");
	pthread_mutex_lock(&lock);
	n_expired++;
	sent_at[p->seq] = 0;
	write_stat();
	pthread_mutex_unlock(&lock);
	free(p);
	fd_msg_free(*req);
	*req = NULL;
}

static int peer_open(void)
{
	struct peer_hdr *hdr = NULL;
	return fd_peer_getbyid((DiamId_t)peer, strlen(peer), 0, &hdr) == 0 && hdr && fd_peer_get_state(hdr) == STATE_OPEN;
}

static int send_one(void)
{
	struct msg *req = NULL;
	struct pending *p;
	struct timespec deadline;
	uint32_t seq;
	CHECK_FCT(fd_msg_new(cmd_request, MSGFL_ALLOC_ETEID, &req));
	CHECK_FCT(fd_msg_add_origin(req, 0));
	CHECK_FCT(add_str(req, avp_dest_host, peer));
	CHECK_FCT(add_str(req, avp_dest_realm, realm));
	pthread_mutex_lock(&lock);
	seq = next_seq++;
	pthread_mutex_unlock(&lock);
	CHECK_FCT(add_u32(req, avp_sequence, seq));
	CHECK_MALLOC(p = malloc(sizeof *p));
	p->seq = seq;
	p->sent = now_ms();
	pthread_mutex_lock(&lock);
	sent_at[seq] = p->sent;
	n_sent++;
	write_stat();
	pthread_mutex_unlock(&lock);
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += 60;
	CHECK_FCT(fd_msg_send_timeout(&req, on_answer, p, on_expire, &deadline));
	return 0;
}

static void *send_loop(void *arg)
{
	char stop[128];
	(void)arg;
	snprintf(stop, sizeof stop, "/tmp/echo-%s.stop", name);
	while (!stopping && next_seq < ECHO_MAX_SEQ) {
		struct timespec ts = {interval_ms / 1000, (interval_ms % 1000) * 1000000};
		nanosleep(&ts, NULL);
		if (stopping || access(stop, F_OK) == 0 || !peer_open()) {
			pthread_mutex_lock(&lock);
			write_stat();
			pthread_mutex_unlock(&lock);
			continue;
		}
		if (send_one())
			fd_log_notice("sctplb_echo: sending request %u failed", next_seq - 1);
	}
	return NULL;
}

static int dictionary(void)
{
	struct dictionary *d = fd_g_config->cnf_dict;
	struct dict_vendor_data v = {ECHO_VENDOR, "sctplb test vendor"};
	struct dict_application_data a = {ECHO_APPLICATION, "sctplb echo application"};
	struct dict_cmd_data rq = {ECHO_COMMAND, "Sctplb-Echo-Request", CMD_FLAG_REQUEST | CMD_FLAG_PROXIABLE | CMD_FLAG_ERROR,
				   CMD_FLAG_REQUEST | CMD_FLAG_PROXIABLE};
	struct dict_cmd_data an = {ECHO_COMMAND, "Sctplb-Echo-Answer", CMD_FLAG_REQUEST | CMD_FLAG_PROXIABLE, CMD_FLAG_PROXIABLE};
	struct dict_avp_data sq = {ECHO_AVP_SEQUENCE, ECHO_VENDOR, "Sctplb-Echo-Sequence", AVP_FLAG_VENDOR | AVP_FLAG_MANDATORY,
				   AVP_FLAG_VENDOR, AVP_TYPE_UNSIGNED32};
	struct dict_avp_data sv = {ECHO_AVP_SERVER, ECHO_VENDOR, "Sctplb-Echo-Server", AVP_FLAG_VENDOR | AVP_FLAG_MANDATORY,
				   AVP_FLAG_VENDOR, AVP_TYPE_OCTETSTRING};
	CHECK_FCT(fd_dict_new(d, DICT_VENDOR, &v, NULL, &vendor));
	CHECK_FCT(fd_dict_new(d, DICT_APPLICATION, &a, vendor, &application));
	CHECK_FCT(fd_dict_new(d, DICT_COMMAND, &rq, application, &cmd_request));
	CHECK_FCT(fd_dict_new(d, DICT_COMMAND, &an, application, &cmd_answer));
	CHECK_FCT(fd_dict_new(d, DICT_AVP, &sq, NULL, &avp_sequence));
	CHECK_FCT(fd_dict_new(d, DICT_AVP, &sv, NULL, &avp_server));
	CHECK_FCT(fd_dict_search(d, DICT_AVP, AVP_BY_NAME, "Result-Code", &avp_result_code, ENOENT));
	CHECK_FCT(fd_dict_search(d, DICT_AVP, AVP_BY_NAME, "Destination-Host", &avp_dest_host, ENOENT));
	CHECK_FCT(fd_dict_search(d, DICT_AVP, AVP_BY_NAME, "Destination-Realm", &avp_dest_realm, ENOENT));
	return 0;
}

static int echo_entry(char *conf)
{
	char role[16] = "";
	if (!conf || sscanf(conf, "%15s %63s %255s %255s %ld", role, name, peer, realm, &interval_ms) < 2 ||
	    (strcmp(role, "server") != 0 && strcmp(role, "client") != 0)) {
		fd_log_notice("sctplb_echo: configuration '%s': want 'server NAME' or 'client NAME PEER REALM INTERVAL_MS'",
			      conf ? conf : "");
		return EINVAL;
	}
	is_client = strcmp(role, "client") == 0;
	if (is_client && (!*peer || !*realm || interval_ms <= 0))
		return EINVAL;
	CHECK_FCT(dictionary());
	/* Advertised in the CER/CEA (Vendor-Specific-Application-Id): the routing sends the
	 * requests only to peers that advertised the application. */
	CHECK_FCT(fd_disp_app_support(application, vendor, 1, 0));
	pthread_mutex_lock(&lock);
	write_stat();
	pthread_mutex_unlock(&lock);
	if (is_client) {
		CHECK_POSIX(pthread_create(&sender, NULL, send_loop, NULL));
	} else {
		struct disp_when when;
		memset(&when, 0, sizeof when);
		when.app = application;
		when.command = cmd_request;
		CHECK_FCT(fd_disp_register(on_request, DISP_HOW_CC, &when, NULL, &handler));
	}
	fd_log_notice("sctplb_echo: %s %s loaded", role, name);
	return 0;
}

void fd_ext_fini(void)
{
	stopping = 1;
	if (is_client)
		pthread_join(sender, NULL);
	if (handler)
		fd_disp_unregister(&handler, NULL);
}

EXTENSION_ENTRY("sctplb_echo", echo_entry);
