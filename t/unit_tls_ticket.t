#!/usr/bin/perl
exec("$ENV{CUTOVER_UNIT}/test_tls_ticket") or die "cannot run test_tls_ticket: $!";
