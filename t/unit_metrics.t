#!/usr/bin/perl
exec("$ENV{CUTOVER_UNIT}/test_metrics") or die "cannot run test_metrics: $!";
