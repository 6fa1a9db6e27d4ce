/* test_list.h - every C test, in run order (libuv test-list.h style).
 *
 * Included with PX_TEST_DECLARE(name) defined: harness.h uses it to declare
 * the tests, run.c to build its table. A TEST() missing from this list fails
 * the build (-Werror=missing-prototypes); a name listed here without a
 * TEST() fails the link. */

/* test_app.c */
PX_TEST_DECLARE(err_names)
PX_TEST_DECLARE(app_from_json)
PX_TEST_DECLARE(app_registry)

/* test_buf.c */
PX_TEST_DECLARE(buf_append_printf)
PX_TEST_DECLARE(buf_reserve)
PX_TEST_DECLARE(buf_json_escape)
PX_TEST_DECLARE(buf_consume)
PX_TEST_DECLARE(rbuf_refcount)
PX_TEST_DECLARE(utf8_valid)
PX_TEST_DECLARE(utf8_invalid)
PX_TEST_DECLARE(utf8_feed_split)

/* test_map.c */
PX_TEST_DECLARE(map_empty)
PX_TEST_DECLARE(map_put_get_del_many)
PX_TEST_DECLARE(map_replace)
PX_TEST_DECLARE(map_delete_keeps_others)
PX_TEST_DECLARE(map_iterate_each_once)
PX_TEST_DECLARE(map_hash)

/* test_crypto.c */
PX_TEST_DECLARE(crypto_hmac_vectors)
PX_TEST_DECLARE(crypto_hmac_parts)
PX_TEST_DECLARE(crypto_md5)
PX_TEST_DECLARE(crypto_ws_accept)
PX_TEST_DECLARE(crypto_ct_equal)
PX_TEST_DECLARE(crypto_random_hex)

/* test_names.c */
PX_TEST_DECLARE(names_channel_valid)
PX_TEST_DECLARE(names_channel_invalid)
PX_TEST_DECLARE(names_channel_kinds)
PX_TEST_DECLARE(names_event)
PX_TEST_DECLARE(names_user_id)
PX_TEST_DECLARE(names_socket_id)

/* test_auth.c */
PX_TEST_DECLARE(auth_channel_private)
PX_TEST_DECLARE(auth_channel_presence)
PX_TEST_DECLARE(auth_user)
PX_TEST_DECLARE(auth_query_parse)
PX_TEST_DECLARE(auth_query_limit)
PX_TEST_DECLARE(auth_request_vector)
PX_TEST_DECLARE(auth_request_rejects)
PX_TEST_DECLARE(auth_request_md5_and_version)

/* test_proto.c */
PX_TEST_DECLARE(proto_decode_valid)
PX_TEST_DECLARE(proto_decode_invalid)
PX_TEST_DECLARE(proto_json_str)
PX_TEST_DECLARE(proto_frame_lengths)
PX_TEST_DECLARE(proto_event_bytes)
PX_TEST_DECLARE(proto_event_roundtrip_large)
PX_TEST_DECLARE(proto_error)
PX_TEST_DECLARE(proto_json_dump)

/* test_hub.c */
PX_TEST_DECLARE(hub_socket_ids)
PX_TEST_DECLARE(hub_subscribe_unsubscribe)
PX_TEST_DECLARE(hub_presence_members)
PX_TEST_DECLARE(hub_presence_limit)
PX_TEST_DECLARE(hub_max_channels_per_client)
PX_TEST_DECLARE(hub_publish_skip_exclude)

/* test_router.c */
PX_TEST_DECLARE(router_connection_established)
PX_TEST_DECLARE(router_ping_and_bad_messages)
PX_TEST_DECLARE(router_subscribe_public)
PX_TEST_DECLARE(router_subscribe_private)
PX_TEST_DECLARE(router_presence_members)
PX_TEST_DECLARE(router_presence_user_id_forms)
PX_TEST_DECLARE(router_presence_limit)
PX_TEST_DECLARE(router_max_channels_per_client)
PX_TEST_DECLARE(router_client_events_refused)
PX_TEST_DECLARE(router_client_events_delivered)
PX_TEST_DECLARE(router_client_events_rate_limit)
PX_TEST_DECLARE(router_client_event_too_big)
PX_TEST_DECLARE(router_trigger_exclude)
PX_TEST_DECLARE(router_unsubscribe)
PX_TEST_DECLARE(router_closed_removes_everything)
PX_TEST_DECLARE(router_user_channel_signin)
PX_TEST_DECLARE(router_signin_rejected)

/* test_api.c */
PX_TEST_DECLARE(api_post_event_docs_vector)
PX_TEST_DECLARE(api_post_event_exclude_and_info)
PX_TEST_DECLARE(api_auth_failures)
PX_TEST_DECLARE(api_unknown_app_and_paths)
PX_TEST_DECLARE(api_disabled_app)
PX_TEST_DECLARE(api_event_limits)
PX_TEST_DECLARE(api_batch)
PX_TEST_DECLARE(api_get_channels)
PX_TEST_DECLARE(api_health)
PX_TEST_DECLARE(api_terminate_user)
PX_TEST_DECLARE(api_path_decoding)
PX_TEST_DECLARE(api_channels_cap)
