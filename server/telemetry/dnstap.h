/* dnstap.h -- the dnstap telemetry sink: each record as Frame Streams + protobuf (libfstrm, protobuf-c) */
#ifndef SK_DNSTAP_H
#define SK_DNSTAP_H

#include "telemetry/sink.h"

/*
 * The "dnstap" row of the sink table. `open` takes a `const sk_dnstap_conf_t *` (conf/conf.h) and
 * writes to a file, a unix socket or a TCP address with the content type "protobuf:dnstap.Dnstap",
 * readable by `dnstap -r`, `fstrm_dump`, `fstrm_capture` and `dnstap-read`.
 *
 * Messages. Each record gives an AUTH_QUERY with the query exactly as received (the client's
 * letter case kept; the first SK_EV_QUERY_MAX bytes when it was longer, marked "cut" in extra),
 * and, unless the config says `messages: queries`, an AUTH_RESPONSE for every query that was
 * answered. The event does not keep the reply's bytes, so the AUTH_RESPONSE carries a rebuilt
 * reply: the real header (ID, flags, the low four bits of the rcode) with the query's question and
 * no records. The records are left out on purpose: they are the zone's own data, the same for
 * every victim; "rsize" in extra tells the real reply's size. Both messages carry the event's
 * time, the client as query address/port and our address as response address/port, and, when a
 * zone matched, its apex as query_zone (wire format, lower case).
 *
 * Dnstap fields. identity: the record's node. version: "sinkholed " SK_VERSION. extra: a compact
 * JSON object (UTF-8 bytes, no trailing newline). On the AUTH_QUERY it carries what dnstap has no
 * field for, the geolocation and the zone's tags; on the AUTH_RESPONSE it is {"seq":N} alone,
 * which joins the two (the enrichment is written once per query). Keys appear only when known:
 *
 *   {"seq":1234,                          record number since start (gaps are drops)
 *    "zone":"example.com.",               matched zone apex, presentation form
 *    "tags":{"case":"2024-17",...},       the zone's tags, in config order
 *    "geo":{"country":"SE","region_code":"E","region":"Östergötland County",
 *           "city":"Linköping","lat":58.4167,"lon":15.6167,"asn":29518,"as_org":"Bredband2 AB"},
 *                                         the source address: a key per known field, the
 *                                         same object as the JSONL sink's "geo"
 *    "ecs":"89.160.20.0/24",              EDNS Client Subnet, source prefix length
 *    "ecs_geo":{...},                     the ECS subnet, same keys as "geo"
 *    "rsize":93,                          bytes of the reply sent (absent: no reply)
 *    "cut":true}                          query_message holds only the query's start
 *
 * Delivery to a socket (unix: or tcp:). emit() packs the messages and hands them to libfstrm's
 * I/O thread through a bounded queue; it never waits. A full queue loses the record (counted
 * failed, emit returns -ENOBUFS). The I/O thread writes in batches (up to 512 frames or 64 KiB a
 * system call), at least once a second, and when the reader is gone it retries it after 1, 2, 4
 * and at most 8 seconds: a socket reader may come and go. A reader that stalls a write or the
 * handshake for 2 seconds, or a connect that takes longer, counts as gone, so a dead reader or an
 * unreachable address delays close() by at most a few such time limits (under 10 s). Records the
 * reader did not take while it was gone are counted failed; `written` counts only records whose
 * frames were handed to it in full. Records still queued are in neither counter; close() drains
 * the queue and logs the final counts.
 *
 * Delivery to a file (file:). A file never makes the writer wait for a reader, so it is written by
 * the telemetry thread itself (dnstap/direct.c): emit() packs the record's data frames (length and
 * payload) into a batch of up to 1 MiB, written with one write when full and at every flush() (at
 * least every telemetry.flush_ms); libfstrm's writer writes the START and STOP frames. A record is never split between batches; a batch is written or
 * failed whole. A write error (full disk) closes the file and counts the batch failed; the file is
 * reopened after the same pauses as a socket. The file is kept out of the page cache
 * (util/pagecache.h).
 *
 * Files. Every opening of the file starts a new Frame Streams file (they cannot be appended to):
 * a file already at the path holding data is first renamed to PATH.YYYYMMDDTHHMMSSZ (UTC), so a
 * restart or a write error never destroys records. Mode 0640. open() fails (-EACCES, -ENOENT
 * ...) when the file cannot be created; a socket's open() succeeds with no reader yet. reopen()
 * (SIGUSR1) writes the batch, finishes the file and starts a new one at the path, as logrotate
 * expects; for sockets it does nothing.
 */
extern const sk_sink_ops_t sk_dnstap_ops;

#endif
