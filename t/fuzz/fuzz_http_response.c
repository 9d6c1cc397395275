/*
 * libFuzzer harness: http_parse_head() on a response head, what a
 * server sends back, with the checks of
 * http_check.h.
 */
#include <stddef.h>
#include <stdint.h>

#include "http_check.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	http_check_input(data, len, 0);
	return (0);
}
