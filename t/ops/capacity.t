# What an operator meets at mpm_event's connection limit, on a private
# server small enough to reach it: one child, ThreadsPerChild 4,
# AsyncRequestWorkerFactor 2, so the child keeps at most 4 x (1 + 2) = 12
# connections and the server 12 in all.
# - startup logs the capacity warning (WS00004: 12 connections, below
#   WebSocketCapacityWarning 100) naming AsyncRequestWorkerFactor;
# - with 8 WebSockets open (all but ThreadsPerChild of the 12), the child
#   logs once (WS00005) that it is close to the limit and which directive to
#   raise; opening more does not repeat it;
# - WebSockets open up to the limit (12 with every worker idle; 10 if a
#   worker is still busy with the last handshake when the next connection
#   comes, since the limit counts idle workers), then a plain GET gets no
#   answer: the site is full (what the warnings are about); closing them
#   lets it answer again.
# Event MPM only; everything bounded; the server stopped in an END block.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../lib";
use lib "$FindBin::Bin/../interop";

use Apache::Test qw(-withtestmore);
use InteropClient ();
use IO::Select;
use IO::Socket::INET;
use File::Temp qw(tempdir);
use POSIX qw(WNOHANG);
use Time::HiRes qw(time);
use WSClient;

my $HTTPD  = $ENV{WS_ASAN_DIR}
           ? Apache::Test::vars('top_dir') . '/scripts/httpd-wrapper'
           : '/usr/sbin/apache2';
my $MODDIR = '/usr/lib/apache2/modules';
my $top    = Apache::Test::vars('top_dir');

plan skip_all => 'needs mpm_event' unless InteropClient::loaded_mpm() eq 'event';
plan tests => 9;

my $tmp = tempdir('mod_websocket-capacity-XXXXXX', TMPDIR => 1, CLEANUP => 1);
chmod 0755, $tmp;
my $port = do {
    my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                  Listen => 1, ReuseAddr => 1) or die "no port: $!";
    my $p = $s->sockport;
    close $s;
    $p;
};
my $conf = "$tmp/httpd.conf";
my $log  = "$tmp/error_log";
open my $fh, '>', $conf or die "$conf: $!";
print $fh <<"CONF";
ServerRoot "$tmp"
ServerName 127.0.0.1
Listen 127.0.0.1:$port
PidFile "$tmp/httpd.pid"
ErrorLog "$log"
DefaultRuntimeDir "$tmp"
DocumentRoot "$tmp"
LogLevel warn
User nobody
Group nogroup
LoadModule mpm_event_module $MODDIR/mod_mpm_event.so
LoadModule authz_core_module $MODDIR/mod_authz_core.so
LoadModule websocket_module "$top/build/mod_websocket.so"
StartServers             1
ServerLimit              1
ThreadsPerChild          4
ThreadLimit              4
MaxRequestWorkers        4
MinSpareThreads          1
MaxSpareThreads          4
AsyncRequestWorkerFactor 2
WebSocketCapacityWarning 100
WebSocketHandlerLoad echo "$top/build/mod_websocket_echo.so" echo
<Directory "$tmp">
    Require all granted
</Directory>
<Location /echo>
    WebSocketHandler echo
</Location>
CONF
close $fh;
open my $idx, '>', "$tmp/index.html" or die;
print $idx "ok\n";
close $idx;
chmod 0644, "$tmp/index.html";

my $started = system('timeout', '30', $HTTPD, '-f', $conf, '-k', 'start') == 0;
END { system('timeout', '20', $HTTPD, '-f', $conf, '-k', 'stop') if $started }

sub log_text { open my $l, '<', $log or return ''; local $/; return <$l> // '' }

# Bounded: the log is written as the server goes.
sub wait_log {
    my ($re, $secs) = @_;
    my $deadline = time + $secs;
    while (time < $deadline) {
        my $t = log_text();
        return $t if $t =~ $re;
        select undef, undef, undef, 0.1;
    }
    return log_text();
}

# A plain GET /index.html; 1 if answered 200 within $secs.
sub get_answered {
    my ($secs) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                  Timeout => 5) or return 0;
    print $s "GET /index.html HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    my $got = IO::Select->new($s)->can_read($secs) && sysread($s, my $buf, 100);
    return $got && $buf =~ m{^HTTP/1\.[01] 200};
}

ok($started, 'the small private server starts');
like(wait_log(qr/WS00004/, 5),
     qr/WS00004: this server can hold at most 12 open connections.*1 children x ThreadsPerChild 4 x \(1 \+ AsyncRequestWorkerFactor 2\).*Raise AsyncRequestWorkerFactor \(e\.g\. 24 /,
     'startup: the capacity warning with the number and the directive');

ok(get_answered(5), 'before: GET /index.html is answered (200)');
my @ws;
for (1 .. 8) {
    my $w = WSClient->new(port => $port, timeout => 5);
    push @ws, $w if $w->handshake(path => '/echo')->{status} == 101;
}
is(scalar @ws, 8, '8 WebSockets open');
like(wait_log(qr/WS00005/, 5),
     qr/WS00005: this child holds 8 WebSockets.*12 connections mpm_event lets one child keep.*Raise AsyncRequestWorkerFactor/,
     'the child says it is close to the limit, and which directive to raise');
# Until a handshake gets no answer (bounded: at most 13 in all).
for (9 .. 13) {
    my $w = WSClient->new(port => $port, timeout => 3);
    last unless $w->handshake(path => '/echo')->{status} == 101;
    push @ws, $w;
}
ok(@ws >= 10 && @ws <= 12, scalar(@ws) . ' WebSockets open, then the next one waits: the child is full');
my @once = log_text() =~ /WS00005/g;
is(scalar @once, 1, '... and WS00005 was logged once');
ok(!get_answered(2), 'a full server does not answer GET /index.html (what the warnings are about)');
$_->close(1000) for @ws;
$_->read_close(5) for @ws;
undef @ws;
my $back = 0;
my $deadline = time + 15;
$back = get_answered(2) until $back || time > $deadline;
ok($back, "once the WebSockets are closed, GET /index.html is answered again") or diag(log_text());
