/*
 * libFuzzer harness: http_chunked_parse() on a chunked body, driven as
 * session_relay_body() drives it (framing to the parser, data bytes passed
 * on and reported with http_chunked_consume()).  The body is fed in one
 * piece, a byte at a time and in pieces of a size the input picks; each
 * way must decode the same data, end at the same byte with the same
 * verdict, and never make a call that takes nothing, which the relay
 * treats as a broken invariant.  Pieces are copied to buffers of their
 * exact size, so that AddressSanitizer sees a read past them.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "http_parse.h"

/* What one decoding of the input gave. */
struct chunked_run {
	enum http_parse_result	 r;	/* AGAIN when the input ran out */
	size_t			 end;	/* input bytes taken */
	char			*data;	/* the decoded data */
	size_t			 ndata;
	const char		*error;
};

/* Runs the parser over buf[0..len), a piece just arrived. */
static enum http_parse_result
chunked_piece(struct http_chunked *c, const uint8_t *data, size_t len,
    size_t *used)
{
	enum http_parse_result	 r;
	char			*buf;

	if ((buf = malloc(len)) == NULL)
		abort();
	memcpy(buf, data, len);
	r = http_chunked_parse(c, buf, len, used);
	free(buf);
	FUZZ_CHECK(*used <= len);
	switch (r) {
	case HTTP_PARSE_AGAIN:
		FUZZ_CHECK(*used == len);
		break;
	case HTTP_PARSE_DATA:
		/* session_relay_body()'s "chunked parser gave no data". */
		FUZZ_CHECK(c->remaining > 0);
		FUZZ_CHECK(*used < len);
		break;
	case HTTP_PARSE_DONE:
		FUZZ_CHECK(*used > 0);
		break;
	case HTTP_PARSE_ERROR:
		FUZZ_CHECK(c->error != NULL);
		break;
	}
	return (r);
}

/* Decodes data[0..len) arriving in pieces of step bytes. */
static void
chunked_run(struct chunked_run *run, const uint8_t *data, size_t len,
    size_t step)
{
	struct http_chunked	c;
	size_t			off = 0, avail = 0, used, n;

	memset(run, 0, sizeof *run);
	if ((run->data = malloc(len > 0 ? len : 1)) == NULL)
		abort();
	run->r = HTTP_PARSE_AGAIN;
	http_chunked_init(&c);
	for (;;) {
		if (off == avail) {
			if (avail == len)
				break;
			avail = len - avail < step ? len : avail + step;
			continue;
		}
		if (c.remaining > 0) {
			n = avail - off;
			if (n > c.remaining)
				n = (size_t)c.remaining;
			memcpy(run->data + run->ndata, data + off, n);
			run->ndata += n;
			http_chunked_consume(&c, n);
			off += n;
			continue;
		}
		run->r = chunked_piece(&c, data + off, avail - off, &used);
		off += used;
		if (run->r == HTTP_PARSE_DONE || run->r == HTTP_PARSE_ERROR)
			break;
		run->r = HTTP_PARSE_AGAIN;
	}
	run->end = off;
	run->error = c.error;
	if (run->r == HTTP_PARSE_DONE) {
		/* The last chunk's line or a trailer, then the empty line. */
		FUZZ_CHECK(off >= 5 && memcmp(data + off - 4, "\r\n\r\n", 4) ==
		    0);
		FUZZ_CHECK(c.remaining == 0);
	}
	/* A parser that has given its verdict only repeats it. */
	if (run->r != HTTP_PARSE_AGAIN && off < len) {
		FUZZ_CHECK(http_chunked_parse(&c, (const char *)data + off,
		    len - off, &used) == run->r);
		FUZZ_CHECK(used == 0);
	}
}

/* Checks that two decodings of the same input agree. */
static void
chunked_same(const struct chunked_run *a, const struct chunked_run *b)
{
	FUZZ_CHECK(a->r == b->r);
	FUZZ_CHECK(a->end == b->end);
	FUZZ_CHECK(a->ndata == b->ndata);
	FUZZ_CHECK(memcmp(a->data, b->data, a->ndata) == 0);
	FUZZ_CHECK((a->error == NULL) == (b->error == NULL));
	if (a->error != NULL)
		FUZZ_CHECK(strcmp(a->error, b->error) == 0);
}

/* Returns the framing line at data[i..end) without its CRLF: no CR, LF, NUL. */
static size_t
chunked_line(const uint8_t *data, size_t i, size_t end)
{
	size_t	k;

	for (k = i; k + 1 < end && data[k] != '\r'; k++)
		FUZZ_CHECK(data[k] != '\n' && data[k] != '\0');
	FUZZ_CHECK(k + 1 < end && data[k] == '\r' && data[k + 1] == '\n');
	return (k - i);
}

/*
 * Decodes a body the parser accepted as a plain reader of RFC 9112
 * section 7.1 would, trusting the sizes alone: chunk-size, the rest of its
 * line, that many bytes and CRLF, until a size of 0, then trailer lines up
 * to an empty one.  It must end where the parser ended and give the same
 * data: a body framed two ways is one a server behind the proxy splits
 * elsewhere.
 */
static void
chunked_reference(const struct chunked_run *run, const uint8_t *data)
{
	uint64_t	 size;
	size_t		 i = 0, n = 0, end = run->end, l;
	unsigned	 digits;
	char		*out;
	int		 d;

	if ((out = malloc(end > 0 ? end : 1)) == NULL)
		abort();
	for (;;) {
		size = 0;
		for (digits = 0; i < end; i++, digits++) {
			if (data[i] >= '0' && data[i] <= '9')
				d = data[i] - '0';
			else if ((data[i] | 0x20) >= 'a' &&
			    (data[i] | 0x20) <= 'f')
				d = (data[i] | 0x20) - 'a' + 10;
			else
				break;
			FUZZ_CHECK(digits < 16);
			size = size * 16 + (uint64_t)d;
		}
		FUZZ_CHECK(digits > 0);
		i += chunked_line(data, i, end) + 2;
		if (size == 0)
			break;
		FUZZ_CHECK(size <= end - i);
		memcpy(out + n, data + i, (size_t)size);
		n += (size_t)size;
		i += (size_t)size;
		FUZZ_CHECK(i + 2 <= end && data[i] == '\r' &&
		    data[i + 1] == '\n');
		i += 2;
	}
	do {
		l = chunked_line(data, i, end);
		i += l + 2;
	} while (l > 0);
	FUZZ_CHECK(i == end);
	FUZZ_CHECK(n == run->ndata && memcmp(out, run->data, n) == 0);
	free(out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct chunked_run	whole, bytes, pieces;

	chunked_run(&whole, data, len, len > 0 ? len : 1);
	FUZZ_CHECK(whole.ndata <= whole.end);
	if (whole.r == HTTP_PARSE_DONE)
		chunked_reference(&whole, data);
	chunked_run(&bytes, data, len, 1);
	chunked_same(&whole, &bytes);
	chunked_run(&pieces, data, len, len > 0 ? data[len - 1] % 64 + 1 : 1);
	chunked_same(&whole, &pieces);
	free(whole.data);
	free(bytes.data);
	free(pieces.data);
	return (0);
}
