/*
 * libFuzzer harness: http_parse_head() on a request head, what a client
 * sends, with the checks of
 * http_check.h.
 */
#include <stddef.h>
#include <stdint.h>

#include "http_check.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	http_check_input(data, len, 1);
	return (0);
}
