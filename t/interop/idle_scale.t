# Scale: 2,000 WebSockets to /echo open at the same time on a server with one
# event-MPM child of 25 threads; then each echoes one message; then all close
# cleanly with 1000; then a new connection works at once.  A
# thread-per-connection design cannot pass this.
# Event MPM only (skipped under prefork, where a process holds each connection).
# Client: t/clients/scale.py.
use strict;
use warnings;

use FindBin;
use lib $FindBin::Bin;

use Apache::Test qw(-withtestmore);
use InteropClient;

my $COUNT = 2000;
my $mpm = InteropClient::loaded_mpm();

plan skip_all => "needs mpm_event (this server runs mpm_$mpm)" unless $mpm eq 'event';

my @checks = qw(opened all_open_at_once echoed closed_clean usable_after);
plan tests => 1 + @checks + 3;

my $run = InteropClient::run(
    name    => 'scale',
    timeout => 170,    # the client bounds its phases to 60 + 30 + 30 s
    # scale.py raises its own RLIMIT_NOFILE soft limit (up to the hard limit).
    cmd     => [InteropClient::PYTHON, InteropClient::client('scale.py'),
                '--host', InteropClient::host(), '--port', InteropClient::port(),
                '--count', $COUNT],
);
InteropClient::assert_checks($run, @checks);

my ($counts) = map { $_->{counts} } grep { $_->{counts} } @{ $run->{extra} };
$counts //= {};
is($counts->{opened},       $COUNT, "opened == $COUNT");
is($counts->{echoed},       $COUNT, "echoed == $COUNT");
is($counts->{closed_clean}, $COUNT, "closed_clean == $COUNT");
InteropClient::assert_exit($run);
