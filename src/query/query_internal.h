/*
 * query internals, for the unit tests that hold the two answer paths to
 * the same output.
 *
 * query_answer() first tries a fused path for the common query shape and
 * falls back to query_answer_general(), which answers every packet and is
 * the reference: for any packet both take, the fused path must give the
 * same bytes and count the same statistics.
 */
#ifndef MERIDIAN_QUERY_QUERY_INTERNAL_H
#define MERIDIAN_QUERY_QUERY_INTERNAL_H

#include "query/query.h"

/* query_answer() without the fused path. */
size_t query_answer_general(const zone_db_t *db, const query_config_t *cfg, const uint8_t *pkt,
                            size_t len, uint8_t *resp, size_t cap, bool tcp,
                            const struct sockaddr *client, unsigned slot);

/* The fused path alone: the answer's length, or 0 when it declines the
 * packet (having written nothing but, at most, the question name at resp +
 * DNS_HEADER_SIZE, as the general path does) and counted nothing. */
size_t query_answer_common(const zone_db_t *db, const query_config_t *cfg, const uint8_t *pkt,
                           size_t len, uint8_t *resp, size_t cap, bool tcp,
                           const struct sockaddr *client, unsigned slot);

#endif
