/*
 * fuzz_relay_conf.c - libFuzzer target for the relay configuration parser
 * (dg_relay_conf_parse: a file an operator edits, STYLE section 9).
 *
 * Whatever the input, the parse must not crash or leak, and a configuration that parses
 * must hold only values inside the documented bounds: lists within their caps, networks
 * without host bits, a valid HELO name, numbers within their key's range. Else abort().
 */
#include <daneguard/relay.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_bounds(const struct dg_relay_conf *c)
{
	char text[DG_CIDR_STR_SIZE];
	struct dg_cidr again;

	if (c->n_listen < 1 || c->n_listen > DG_RELAY_LISTEN_MAX ||
	    c->n_allow > DG_RELAY_ALLOW_MAX || c->n_resolver > DG_RELAY_RESOLVER_MAX ||
	    c->n_client_cert > DG_RELAY_CLIENT_CERT_MAX)
		abort();
	for (size_t i = 0; i < c->n_allow; i++) {
		dg_cidr_format(&c->allow[i], text, sizeof(text));
		if (dg_cidr_parse(text, &again, NULL) != DG_OK ||
		    memcmp(&again, &c->allow[i], sizeof(again)) != 0)
			abort();
	}
	for (size_t i = 0; i < c->n_listen; i++)
		if (c->listen[i].port == 0)
			abort();
	if (!dg_name_is_valid(c->helo, NULL))
		abort();
	if (c->max_message_bytes < 1024 || c->max_message_bytes > 64u * 1024u * 1024u ||
	    c->max_recipients < 1 || c->max_recipients > 1000 || c->retry_min_s < 1 ||
	    c->retry_max_s > 7u * 86400u || c->timeout_s < 1 || c->timeout_s > 3600 ||
	    c->dest_concurrency < 1 || c->max_deliveries < 1 || c->delivery_port == 0)
		abort();
	if (c->queue_dir != NULL &&
	    (c->queue_dir[0] == '\0' || strlen(c->queue_dir) >= DG_RELAY_CONF_VALUE_MAX))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dg_relay_conf *c;
	struct dg_err err = {0};

	if (size > DG_RELAY_CONF_FILE_MAX)
		return 0;
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		abort();
	dg_relay_conf_init(c);
	if (dg_relay_conf_parse(c, (const char *)data, size, "fuzz.conf", &err) == DG_OK)
		check_bounds(c);
	else if (strncmp(err.msg, "fuzz.conf", 9) != 0)
		abort(); /* every error names the source */
	dg_relay_conf_cleanup(c);
	free(c);
	return 0;
}
