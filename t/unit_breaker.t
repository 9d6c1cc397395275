#!/usr/bin/perl
exec("$ENV{CUTOVER_UNIT}/test_breaker") or die "cannot run test_breaker: $!";
