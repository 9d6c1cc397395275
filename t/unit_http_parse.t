#!/usr/bin/perl
exec("$ENV{CUTOVER_UNIT}/test_http_parse") or die "cannot run test_http_parse: $!";
