#!/usr/bin/perl
exec("$ENV{CUTOVER_UNIT}/test_route") or die "cannot run test_route: $!";
