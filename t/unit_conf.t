#!/usr/bin/perl
exec("$ENV{CUTOVER_UNIT}/test_conf") or die "cannot run test_conf: $!";
