# t/config/make_start.t - the private server of `make start` runs ONE child
# without WebSocketPubSub (so that chat rooms, topics of one child, reach
# every member), and several when the EXTRA_CONF file configures it.
#
# Starts `make start-nodeps` twice on free loopback ports (LISTEN and
# TLS_LISTEN on 127.0.0.1), with `-o build` so that nothing is rebuilt in
# the middle of a test run (and SANITIZE=1 passed on when the suite runs
# so), counts the parent's children in /proc, and stops each server with
# `make stop` (at END too, whatever failed).  The second one's Redis
# (WebSocketPubSub) is a free port where nothing listens: the children
# start anyway and retry the link, which is all the count needs.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use File::Path qw(remove_tree);
use File::Temp qw(tempfile);
use HTTP::Tiny ();
use Time::HiRes qw(time);
use PrivateHttpd ();
use WSClient qw(OP_TEXT);

plan tests => 19;

my $top = Apache::Test::vars('top_dir');
# The make of `make test` exports its flags; this make is a fresh one.
delete @ENV{qw(MAKEFLAGS MFLAGS MAKELEVEL MAKEOVERRIDES)};
my @make = ('make', '-C', $top, '--no-print-directory',
            ($ENV{WS_ASAN_DIR} ? 'SANITIZE=1' : ()));
my (%used, @started);

sub free_ports {
    my @p;
    while (@p < 2) {
        my $p = PrivateHttpd::free_port();
        push @p, $p unless $used{$p}++;
    }
    return @p;
}

sub conf_file {
    my ($text) = @_;
    my ($fh, $name) = tempfile('make-start-XXXXXX', TMPDIR => 1, UNLINK => 1, SUFFIX => '.conf');
    print $fh $text;
    close $fh;
    return $name;
}

# make start-nodeps; returns (exit code, output, pid of the parent).
sub make_start {
    my ($port, $tls, @vars) = @_;
    push @started, $port;
    my $out = qx{timeout 90 @make -o build start-nodeps PORT=$port TLS_PORT=$tls LISTEN=127.0.0.1:$port TLS_LISTEN=127.0.0.1:$tls @vars 2>&1};
    my $rc = $? >> 8;
    my $pid;
    if (open my $fh, '<', "$top/build/run-$port/logs/httpd.pid") {
        ($pid) = (<$fh> // '') =~ /(\d+)/;
    }
    return ($rc, $out, $pid);
}

sub children_of {
    my ($ppid) = @_;
    my @kids;
    opendir my $d, '/proc' or return ();
    for my $p (grep { /^\d+$/ } readdir $d) {
        open my $st, '<', "/proc/$p/status" or next;
        while (<$st>) { if (/^PPid:\s+(\d+)/) { push @kids, $p if $1 == $ppid; last } }
    }
    return @kids;
}

# The children once there are at least $want (bounded), then once more
# after a moment in which the MPM could add spares: the count it settles on.
sub settle_children {
    my ($ppid, $want) = @_;
    my $deadline = time + 15;
    my @k;
    while (time < $deadline) {
        @k = children_of($ppid);
        last if @k >= $want;
        select(undef, undef, undef, 0.1);
    }
    return scalar @k;
}

# Scoreboard slots in ?auto: ServerLimit x ThreadLimit.
sub scoreboard_slots {
    my ($port) = @_;
    my $r = HTTP::Tiny->new(timeout => 10)->get("http://127.0.0.1:$port/server-status?auto");
    my ($sb) = ($r->{content} // '') =~ /^Scoreboard: (\S+)$/m;
    return $sb ? length $sb : 0;
}

# Children that died of a signal, from the server's error log.
sub crashes {
    my ($port) = @_;
    open my $fh, '<', "$top/build/run-$port/logs/error_log" or return ('no error_log');
    return grep { /AH00052: child pid \d+ exit signal/ } <$fh>;
}

sub stop {
    my ($port) = @_;
    my $out = qx{timeout 60 @make stop PORT=$port 2>&1};
    my $rc = $? >> 8;
    remove_tree("$top/build/run-$port", "/tmp/mod_websocket-htdocs-$port",
                "/tmp/mod_websocket-asan-$port");
    return ($rc, $out);
}

END { local $?; stop($_) for grep { -d "$top/build/run-$_" } @started }

# ---- the Makefile's decision, without starting anything (make -n)
my $with = conf_file("# an operator's file\n  WebSocketPubSub redis://127.0.0.1:1/0\n");
my $commented = conf_file("# WebSocketPubSub redis://127.0.0.1:1/0\n");
my ($np) = free_ports();
my $dry = sub { scalar qx{@make -n -o build start-nodeps PORT=$np EXTRA_CONF=$_[0] 2>&1} };
like($dry->($with), qr/-DWEBSOCKET_PUBSUB -k start/, 'a WebSocketPubSub line in EXTRA_CONF: -D WEBSOCKET_PUBSUB');
unlike($dry->($commented), qr/WEBSOCKET_PUBSUB/, 'a commented-out one: no define');
remove_tree("$top/build/run-$np");

# ---- no WebSocketPubSub: one child, and chat members meet
my ($p1, $t1) = free_ports();
my ($rc, $out, $pid) = make_start($p1, $t1);
is($rc, 0, "make start on 127.0.0.1:$p1 and :$t1") or diag($out);
like($out, qr/one child \(no WebSocketPubSub/, '... says it runs one child');
ok($pid && kill(0, $pid), '... the parent runs') or diag("pid file: " . ($pid // 'none'));
is(settle_children($pid // 0, 1), 1, '... with exactly one child');
my $one_slots = scoreboard_slots($p1);
ok($one_slots > 0, "... whose scoreboard has room for one child ($one_slots slots)");

my $ws = sub {
    my $w = WSClient->new(port => $p1, tls => 0);
    $w->{response} = $w->handshake(path => $_[0]);
    return $w;
};
# ann's own join comes once she is subscribed: only then may ben join,
# or his notice could be published before her subscription exists.
my $a = $ws->('/chat?room=mk&nick=ann');
my $m = $a->read_message(5);                       # ann's own join
my $b = $ws->('/chat?room=mk&nick=ben');
$m = $a->read_message(5);
is($m && $m->{payload}, '* ben joined', "chat on the one child: ann sees ben join");
$b->read_message(5);
$b->send_text('hello');
$m = $a->read_message(5);
is($m && $m->{payload}, 'ben: hello', '... and his message');
$_->close(1000) for $a, $b;
my $inc = $ws->('/increment');
$m = $inc->read_message(5);
is($m && $m->{payload}, '0', 'make start serves /increment from build/handlers');
my $cl = $ws->('/close');
$cl->send_text('4000 bye');
my $f = $cl->read_close(5);
is($f && $f->{code}, 4000, '... and /close');
my $page = HTTP::Tiny->new(timeout => 10)->get("http://127.0.0.1:$p1/console.html");
like($page->{status} . ' ' . ($page->{content} // ''), qr/^200 .*WebSocket console/s,
     '... and the example pages (console.html)');
my @crashed = crashes($p1);
ok(!@crashed, 'no child crashed') or diag(@crashed[0 .. ($#crashed < 2 ? $#crashed : 2)]);
($rc, $out) = stop($p1);
ok($rc == 0 && !kill(0, $pid), 'make stop stops it') or diag($out);

# ---- WebSocketPubSub in EXTRA_CONF: several children
my ($rp) = free_ports();                            # no Redis listens here
my $extra = conf_file("WebSocketPubSub redis://127.0.0.1:$rp/0\n");
my ($p2, $t2) = free_ports();
($rc, $out, $pid) = make_start($p2, $t2, "EXTRA_CONF=$extra");
is($rc, 0, "make start EXTRA_CONF=<WebSocketPubSub> on :$p2") or diag($out);
like($out, qr/2 to 4 children \(WebSocketPubSub/, '... says it may run several');
my $n = settle_children($pid // 0, 2);
ok($n >= 2, "... and runs several children ($n)");
my $slots = scoreboard_slots($p2);
is($slots, 4 * $one_slots, "... with room for four ($slots scoreboard slots)");
@crashed = crashes($p2);
ok(!@crashed, '... and no child crashed (the Redis link down is retried)')
    or diag(@crashed[0 .. ($#crashed < 2 ? $#crashed : 2)]);
stop($p2);
