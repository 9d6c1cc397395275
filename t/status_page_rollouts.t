#!/usr/bin/perl
# The /status page as the server renders it (what a browser without
# script shows, and what shows before the first refresh) lists the
# rollouts with their state, step and canary share, and their last
# decisions; "no rollouts" only when the config has none.

use strict;
use warnings;

use Test::More tests => 8;

use Cutover::Test;

my $blue = start_backend(name => 'blue');
my $green = start_backend(name => 'green');
my $port = free_port();
my $cut = start_cutover(conf => <<"EOF");
[listener web]
bind = 127.0.0.1:$port

[pool blue]
server = b1 127.0.0.1:${\ $blue->port}

[pool green]
server = g1 127.0.0.1:${\ $green->port}

[route app]
split = blue 100, green 0

[rollout app]
canary = green
steps = 10, 50, 100
interval = 1h
EOF

my $r = http_get($cut->status_port, '/status');
is($r->{status}, 200, '/status answers');
my ($section) = $r->{body} =~ m{<div id="rollouts">(.*?)</div>\n}s;
like($section // '', qr{<article class="card rollout">.*<h3>app</h3>}s,
    'an idle rollout is on the page');
unlike($section // '', qr/no rollouts/, 'which does not say there is none');
like($section // '', qr{>idle</span>}, 'it shows the state');

is($cut->admin('rollout start app'), "ok\n", 'rollout start');
$r = http_get($cut->status_port, '/status');
($section) = $r->{body} =~ m{<div id="rollouts">(.*?)</div>\n}s;
like($section // '', qr{class="badge ok">running</span>},
    'the rollout shows as running');
like($section // '', qr{step 1/3 \x{c2}\x{b7} canary green 10%},
    'at its first step, canary at 10%');
my $li = qr{<li><span class="mono">\d\d:\d\d:\d\d</span> };
like($section // '', qr{<ol class="meta decisions">${li}step 1/3: canary green},
    'with its decisions, the last one first');
