/* fuzz_conf.c -- libFuzzer target: config file text through libyaml and the validator; a config
 * that loads must hold only values the rest of the server can take */
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "conf/conf.h"
#include "fuzz_common.h"

static const char *const files[] = { "sinkholed.yml", NULL };

static bool is_pow2(unsigned v)
{
	return v && !(v & (v - 1));
}

/* A resolved path: absolute as written, or relative ones put in the config's folder. */
static void check_path(const char *p)
{
	FUZZ_CHECK(p && p[0] == '/');
}

static void check(const sk_conf_t *c, const char *path)
{
	FUZZ_CHECK(!strcmp(c->path, path));
	FUZZ_CHECK(c->nlisten >= 1 && c->listen);
	for (size_t i = 0; i < c->nlisten; i++) {
		const sk_listen_t *l = &c->listen[i];
		FUZZ_CHECK(l->text);
		FUZZ_CHECK((l->addr.ss_family == AF_INET && l->addrlen == sizeof(struct sockaddr_in)) ||
			(l->addr.ss_family == AF_INET6 && l->addrlen == sizeof(struct sockaddr_in6)));
	}
	FUZZ_CHECK(c->workers >= 1 && c->workers <= 1024);
	FUZZ_CHECK(!c->ncpus == !c->cpus);
	for (size_t i = 0; i < c->ncpus; i++)
		FUZZ_CHECK(c->cpus[i] <= 1023);
	FUZZ_CHECK(c->identity && strlen(c->identity) <= 255);
	FUZZ_CHECK(!c->version || (strlen(c->version) >= 1 && strlen(c->version) <= 255));
	FUZZ_CHECK(c->edns_size >= 512 && c->edns_size <= 4096);
	FUZZ_CHECK(c->tcp_max_clients >= 1 && c->tcp_idle_timeout_ms >= 1 && c->tcp_max_pending >= 1);
	FUZZ_CHECK(!c->nzones == !c->zones);
	for (size_t i = 0; i < c->nzones; i++) {
		check_path(c->zones[i].file);
		FUZZ_CHECK(!c->zones[i].ntags == !c->zones[i].tags);
		for (size_t k = 0; k < c->zones[i].ntags; k++)
			FUZZ_CHECK(c->zones[i].tags[k].key[0] && c->zones[i].tags[k].value);
	}
	FUZZ_CHECK(!c->nseized == !c->seized);
	for (size_t i = 0; i < c->nseized; i++) {
		check_path(c->seized[i].list);
		check_path(c->seized[i].template);
	}
	const sk_telemetry_conf_t *t = &c->telemetry;
	FUZZ_CHECK(is_pow2(t->ring_size) && t->ring_size >= 64 && t->flush_ms >= 1);
	if (t->jsonl)
		check_path(t->jsonl->path);
	if (t->dnstap) {
		FUZZ_CHECK(t->dnstap->mode <= SK_DNSTAP_TCP);
		if (t->dnstap->mode == SK_DNSTAP_TCP)
			FUZZ_CHECK(t->dnstap->addrlen > 0);
		else
			check_path(t->dnstap->path);
	}
	if (c->geoip_city)
		check_path(c->geoip_city);
	if (c->geoip_asn)
		check_path(c->geoip_asn);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char path[512];
	if (!path[0])
		fuzz_path(path, sizeof path, files[0]);
	fuzz_write(path, data, size);
	sk_conf_t *conf = NULL;
	int rc = sk_conf_load(path, &conf);
	if (rc == 0) {
		check(conf, path);
		sk_conf_free(conf);
	} else {
		FUZZ_CHECK(rc < 0 && conf == NULL);
	}
	return 0;
}

static void cleanup(void) __attribute__((destructor));
static void cleanup(void)
{
	fuzz_cleanup(files);
}
