/*
 * Session ticket key rotation (proxy/tls.c, included for its static
 * functions): threads read the clock before they take the key lock, so
 * the one that makes the new key of a period may have read it after
 * others that find that key made "in their future".  Those must take it,
 * not make keys of their own that would push the keys of the last
 * periods out of the ring.
 */
#include "../../proxy/tls.c"

#include "tap.h"

int
main(void)
{
	struct tls_ticket_key	k, first;

	is_int(tls_ticket_newest(&first, 1001, 1000), 0,
	    "a key is made at 1001 ms");
	is_int(tls_ticket_newest(&k, 1000, 1000), 0,
	    "a thread that read the clock at 1000 ms gets a key");
	ok(memcmp(k.name, first.name, sizeof k.name) == 0,
	    "... the one just made");
	is_int(tls_ticket_newest(&k, 999, 1000), 0,
	    "and so does one that read it at 999 ms");
	is_int((int)tls_nticket_keys, 1, "one key in the ring");
	is_int(tls_ticket_newest(&k, 2001, 1000), 0,
	    "a period later a new key is made");
	is_int((int)tls_nticket_keys, 2, "two keys in the ring");
	is_int(tls_ticket_named(&k, first.name, 2001, 1000), 2,
	    "the first decrypts still, its tickets renewed");
	is_int(tls_ticket_named(&k, first.name, 4001, 1000), 0,
	    "three periods after it was made, it decrypts no more");
	return (done_testing());
}
