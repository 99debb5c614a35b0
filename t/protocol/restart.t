# A graceful restart (SIGUSR1 to the parent, `apachectl -k graceful`) with
# WebSockets open: the stopping child closes them with 1001 (going away)
# instead of holding on to them, and the restarted server serves new ones.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use Apache::TestRequest ();
use WSClient qw(OP_TEXT OP_CLOSE);
use Time::HiRes qw(time);
use WSTestEnv ();

# Lines of the error log where a child ran the v2 test handler's
# on_child_exit for /v2a's instance (t/handlers/v2_handler.c).
sub child_exit_lines {
    my $log = Apache::Test::vars('t_logs') . '/error_log';
    open my $fh, '<', $log or return 0;
    my $n = grep { /v2 child_exit label=a pid=\d+/ } <$fh>;
    close $fh;
    return $n;
}

my $OPEN = 3;

my $pid_file;
unless ($ENV{WSCLIENT_PORT}) {
    my $logs = Apache::Test::vars('t_logs');
    $pid_file = "$logs/httpd.pid" if $logs;
}

# A one-process server (httpd -X: make test-valgrind) has no children to
# replace: a graceful restart there is not what this file tests.
plan skip_all => 'needs a server with children (this one runs as one process, httpd -X)'
    if WSTestEnv::one_process();
plan tests => $OPEN * 3 + 3,
    sub { $pid_file && -r $pid_file ? 1 : 'no httpd.pid (stand-in server?)' };

sub open_echo {
    my ($ws, $res) = WSClient->open_ws('/echo', timeout => 10);
    die "handshake on /echo failed: status $res->{status}\n$res->{raw}\n"
        unless $res->{status} == 101;
    return $ws;
}

my @ws = map { open_echo() } 1 .. $OPEN;
for my $i (0 .. $#ws) {
    $ws[$i]->send_text("before restart $i");
    my $m = $ws[$i]->read_message(10);
    die "no echo before the restart\n" unless $m && $m->{payload} eq "before restart $i";
}

open my $fh, '<', $pid_file or die "$pid_file: $!\n";
my $pid = <$fh>;
close $fh;
chomp $pid;
my $exits_before = child_exit_lines();
kill 'USR1', $pid or die "cannot signal httpd ($pid): $!\n";
my $t0 = time;

for my $i (0 .. $#ws) {
    my $f = $ws[$i]->read_close(10);
    is($f ? $f->{opcode} : undef, OP_CLOSE, "graceful restart: WebSocket $i gets a close frame")
        or diag('got ' . WSClient::describe($f) . ', eof=' . ($ws[$i]->{eof} || 'no'));
    is($f ? $f->{code} : undef, 1001, "... with 1001 (going away)");
    diag(sprintf('close frame %.2f s after the signal', time - $t0)) if $f;
    $ws[$i]->close(1001);
    ok($ws[$i]->wait_eof(10), "... then TCP closed");
}

# The restarted server: the listening socket stays open across a graceful
# restart, so a new connection is queued until a child accepts it.  A
# connection that an old child accepted just before it learned of the
# restart is legitimately closed with 1001 (going away): then try again
# (bounded), the new generation must serve it.
{
    my ($echoed, $closed, @history);
    my $deadline = time + 10;
    while (time < $deadline) {
        my $ws = open_echo();
        $ws->send_text('after restart');
        my $m = $ws->read_message(10);
        if (!$m || $m->{opcode} == OP_CLOSE) {
            push @history, 'no echo: ' . WSClient::describe($m);
            next if $m && ($m->{code} // 0) == 1001;
            last;
        }
        $echoed = $m->{payload} eq 'after restart';
        $ws->close(1000);
        my $f = $ws->read_close(10);
        push @history, 'echo, then ' . WSClient::describe($f);
        if ($f && ($f->{code} // 0) == 1001) {
            $echoed = 0;
            next;
        }
        $closed = $f && ($f->{code} // 0) == 1000;
        last;
    }
    ok($echoed, 'after the graceful restart a new client echoes') or diag(join "\n", @history);
    ok($closed, '... and closes normally (1000)') or diag(join "\n", @history);
    diag('attempts: ' . join(' | ', @history)) if @history > 1;
}

# The old generation's children ran on_child_exit for each location
# instance as they went (bounded wait: they exit once their WebSockets are
# closed).
{
    my ($n, $deadline) = (0, time + 10);
    while (($n = child_exit_lines()) <= $exits_before && time < $deadline) {
        select undef, undef, undef, 0.1;
    }
    ok($n > $exits_before, "on_child_exit ran in the children that left ("
       . ($n - $exits_before) . " new log lines)");
}
