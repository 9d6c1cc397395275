#!/usr/bin/perl
exec("$ENV{CUTOVER_UNIT}/test_balancer") or die "cannot run test_balancer: $!";
