# t/config/mpm.t - the server really runs the MPM this run asked for.
#
# `make test` runs the suite twice, under mpm_event and mpm_prefork
# (WS_TEST_MPM, see t/TEST.PL); a configuration mistake could silently run
# both under the same MPM.  Three independent witnesses must agree:
# mod_status of the running server, Apache::Test's own idea of the MPM
# (from `httpd -V`), and the LoadModule lines of the generated config.
use strict;
use warnings FATAL => 'all';

use Apache::Test qw(-withtestmore);
use Apache::TestRequest qw(GET);

plan tests => 4;

my $want = $ENV{WS_TEST_MPM} || 'event';
diag("expected MPM: $want");

my $res = GET '/server-status';
is($res->code, 200, 'GET /server-status from 127.0.0.1');
my ($running) = $res->content =~ /Server MPM:\s*(?:<[^>]*>\s*)*(\w+)/;
is($running // '(none found)', $want, "the running server's MPM (mod_status)");

is(Apache::Test::config()->{server}->{mpm}, $want,
   "Apache::Test's MPM (httpd -V)");

my $conf = Apache::Test::vars('t_conf_file');
open my $fh, '<', $conf or die "$conf: $!";
my %loaded = map { /^\s*LoadModule\s+mpm_(\w+)_module/ ? ($1 => 1) : () } <$fh>;
close $fh;
ok($loaded{$want} && !grep({ $_ ne $want } keys %loaded),
   "httpd.conf loads mpm_$want only")
    or diag("httpd.conf loads: @{[ sort keys %loaded ]}");
