/* consume.c -- read a sinkholed stream back from NATS JetStream the way the README recommends:
 * a durable pull consumer with explicit acknowledgements (libnats). Built by test_nats.py.
 *
 *   consume URLS STREAM SUBJECT DURABLE [IDLE_MS]
 *
 * URLS is a comma-separated list. Prints one line per message, "<Nats-Msg-Id>\t<subject>\t<body>",
 * acknowledges it, and stops once no message came for IDLE_MS (default 2000). A second run with
 * the same DURABLE goes on after the last acknowledged message. The count goes to stderr.
 * Exit 0, or 1 with the reason on stderr. */
#include <stdio.h>
#include <stdlib.h>

#include <nats/nats.h>

static int fail(const char *what, natsStatus s, jsErrCode jerr)
{
	fprintf(stderr, "consume: %s: %s (%d) %s\n", what, natsStatus_GetText(s), (int)jerr,
		nats_GetLastError(NULL) ? nats_GetLastError(NULL) : "");
	return 1;
}

int main(int argc, char **argv)
{
	natsConnection *nc = NULL;
	jsCtx *js = NULL;
	natsSubscription *sub = NULL;
	jsSubOptions so;
	jsErrCode jerr = 0;
	long count = 0;
	natsStatus s;

	if (argc < 5) {
		fprintf(stderr, "usage: consume URLS STREAM SUBJECT DURABLE [IDLE_MS]\n");
		return 2;
	}
	int64_t idle = argc > 5 ? atoll(argv[5]) : 2000;
	if ((s = natsConnection_ConnectTo(&nc, argv[1])) != NATS_OK)
		return fail("connect", s, 0);
	jsOptions jo;
	jsOptions_Init(&jo);
	jo.Wait = 10000;
	if ((s = natsConnection_JetStream(&js, nc, &jo)) != NATS_OK)
		return fail("jetstream", s, 0);
	jsSubOptions_Init(&so);
	so.Stream = argv[2];
	so.Config.AckPolicy = js_AckExplicit;
	so.Config.DeliverPolicy = js_DeliverAll;
	/* Right after a cluster lost a node the stream may still be electing a leader: try again. */
	for (int i = 0; i < 10; i++) {
		if ((s = js_PullSubscribe(&sub, js, argv[3], argv[4], NULL, &so, &jerr)) == NATS_OK)
			break;
		fprintf(stderr, "consume: pull subscribe: %s (%d), trying again\n", natsStatus_GetText(s),
			(int)jerr);
		nats_Sleep(1000);
	}
	if (s != NATS_OK)
		return fail("pull subscribe", s, jerr);
	for (;;) {
		natsMsgList list = { NULL, 0 };
		s = natsSubscription_Fetch(&list, sub, 1000, idle, &jerr);
		if (s == NATS_TIMEOUT)
			break;
		if (s != NATS_OK)
			return fail("fetch", s, jerr);
		for (int i = 0; i < list.Count; i++) {
			natsMsg *m = list.Msgs[i];
			const char *id = NULL;
			if (natsMsgHeader_Get(m, "Nats-Msg-Id", &id) != NATS_OK)
				id = "-";
			printf("%s\t%s\t%.*s\n", id, natsMsg_GetSubject(m), natsMsg_GetDataLength(m),
				natsMsg_GetData(m));
			natsMsg_Ack(m, NULL);
			count++;
		}
		natsMsgList_Destroy(&list);
	}
	fflush(stdout);
	fprintf(stderr, "consume: %ld messages\n", count);
	natsSubscription_Destroy(sub);
	jsCtx_Destroy(js);
	natsConnection_Destroy(nc);
	nats_Close();
	return 0;
}
