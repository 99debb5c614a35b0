package Hostile;

# Shared checks of the hostile-client tests (t/hostile/*.t): whatever a
# client does, the server stays up, other clients keep echoing, memory
# stays bounded, and nothing is left behind afterwards.
#
#   my $s = Hostile->suite;                 # the Apache::Test server
#   my $s = Hostile->private($h);           # or a PrivateHttpd
#   my $b = $s->baseline;                   # WebSocketsOpen, fds, RSS, log offset
#   my $p = $s->prober;                     # an /echo WebSocket of our own
#   ... attack ...; $p->tick; $s->sample($bl) in the loops ...
#   $s->assert_all($b, $p, max_growth => 16 * MiB, what => 'the flood');
#
# assert_all() is FIVE tests (Test::More):
#   1. the server stayed up: its parent is alive and the error log has no
#      "AH00052: child pid ... exit signal" since the baseline (under
#      mpm_event also: the children of the baseline are still the ones,
#      unless $s->{restarted} says a restart replaced them on purpose);
#   2. the prober echoed every one of its messages, each within 2 s;
#   3. memory: the children's growth (see growth() below) stayed under
#      max_growth (the case's own bound, far under WebSocketMaxMemory);
#      skipped under ASan, whose quarantine keeps freed memory, and (for
#      the suite's server) under valgrind, whose shadow memory is in the RSS;
#   4. mod_status WebSocketsOpen is back to the baseline, and
#   5. every child's open file descriptors (/proc/<pid>/fd) are back to the
#      baseline (a child that did not exist then: to the most any child had;
#      see LOOP_FDS for the one allowance) within a bounded wait (default 10 s).
#
# Memory growth is the most of: the largest sampled VmRSS growth (summed
# over the children; a child born since the baseline counts from the
# smallest baseline child), and the VmHWM growth of the baseline children.
# Both are lower bounds of the true peak (samples miss spikes; VmHWM does
# not move below an earlier peak of a long-lived child), which is why the
# loops call sample() often.  Status requests are HTTP/1.0 on a fresh
# connection each, so they hold no keep-alive connection (and fd) of their
# own.

use strict;
use warnings;

use Test::More ();
use IO::Socket::INET ();
use Time::HiRes qw(time sleep);
use WSClient qw(OP_TEXT OP_CLOSE);
use WSTestEnv ();

use constant MiB => 1024 * 1024;

sub suite {
    my ($class) = @_;
    require Apache::Test;
    my $logs = Apache::Test::vars('t_logs');
    my $pidf = "$logs/httpd.pid";
    my $pid = do { open my $fh, '<', $pidf or die "$pidf: $!\n"; local $/; <$fh> };
    chomp $pid;
    # A one-process suite server (make test-valgrind) is its own "child".
    return bless { port => Apache::Test::vars('port'), parent => $pid,
                   error_log => "$logs/error_log", mpm => _suite_mpm(),
                   one_process => WSTestEnv::one_process() }, $class;
}

sub _suite_mpm {
    require Apache::Test;
    return (Apache::Test::vars('defines') // '') =~ /\bPREFORK\b/ ? 'prefork' : 'event';
}

sub private {
    my ($class, $h) = @_;
    return bless { port => $h->port, parent => $h->pid, error_log => $h->error_log,
                   mpm => $h->{mpm}, httpd => $h }, $class;
}

sub port { $_[0]{port} }
sub mpm  { $_[0]{mpm} }

sub children {
    my ($self) = @_;
    return WSTestEnv::server_pids($self->{parent}) if $self->{one_process};
    my @kids;
    opendir my $d, '/proc' or return;
    for my $pid (grep { /^\d+$/ } readdir $d) {
        open my $st, '<', "/proc/$pid/stat" or next;
        my $l = <$st> // next;
        my ($ppid) = $l =~ /^\d+ \(.*\) \S (\d+)/ or next;
        push @kids, $pid if $ppid == $self->{parent};
    }
    return sort { $a <=> $b } @kids;
}

# /server-status?auto on a fresh HTTP/1.0 connection: { field => n }.
sub status {
    my ($self) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $self->{port},
                                  Timeout => 5) or return undef;
    print $s "GET /server-status?auto HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    my $body = do { local $/; <$s> } // '';
    close $s;
    return undef unless $body =~ m{^HTTP/1\.\d 200};
    my %f = $body =~ /^(\w+): (\d+)\r?$/mg;
    return \%f;
}

sub ws_open { my $st = $_[0]->status; return $st ? $st->{WebSocketsOpen} : undef }

# The module's per-process loop (an epoll instance and its wake-up pipe) is
# made at a process's first WebSocket and kept for its life: a prefork child
# that served one keeps 3 more fds than a fresh one, however many it served.
use constant LOOP_FDS => 3;

sub fd_info {                             # { pid => [open fds, of them epolls] }
    my ($self) = @_;
    my %n;
    for my $pid ($self->children) {
        opendir my $d, "/proc/$pid/fd" or next;
        my @fd = grep { /^\d+$/ } readdir $d;
        my $ep = grep { (readlink("/proc/$pid/fd/$_") // '') eq 'anon_inode:[eventpoll]' } @fd;
        $n{$pid} = [scalar @fd, $ep];
    }
    return \%n;
}

sub fds { my $i = $_[0]->fd_info; return { map { $_ => $i->{$_}[0] } keys %$i } }

# Children with more fds than at the baseline (a child born since: than the
# baseline child with the most), allowing LOOP_FDS once for a child whose
# loop was made since (one more epoll than its reference): descriptions.
sub fds_over {
    my ($self, $bl) = @_;
    my $now = $self->fd_info;
    my @over;
    for my $pid (sort keys %$now) {
        my ($n, $e) = @{ $now->{$pid} };
        my $ref = $bl->{fdi}{$pid} // $bl->{fdi_max} // [0, 0];
        my $allowed = $ref->[0] + ($e > $ref->[1] ? LOOP_FDS * ($e - $ref->[1]) : 0);
        push @over, "$pid: $n fds (allowed $allowed" . ($bl->{fdi}{$pid} ? '' : ', a new child')
                    . ')' if $n > $allowed;
    }
    return @over;
}

sub children_rss {                        # { pid => [VmRSS, VmHWM] } in bytes
    my ($self) = @_;
    my %u;
    for my $pid ($self->children) {
        open my $st, '<', "/proc/$pid/status" or next;
        my %f;
        while (<$st>) { $f{$1} = $2 if /^(VmRSS|VmHWM):\s+(\d+)/ }
        $u{$pid} = [($f{VmRSS} // 0) * 1024, ($f{VmHWM} // 0) * 1024];
    }
    return \%u;
}

sub baseline {
    my ($self) = @_;
    my $fdi = $self->fd_info;
    my $bl = { open => $self->ws_open // 0, fdi => $fdi, rss => $self->children_rss,
               fds => { map { $_ => $fdi->{$_}[0] } keys %$fdi },
              log_off => -s $self->{error_log} // 0, max_growth => 0, t0 => time };
    ($bl->{fdi_max}) = sort { $b->[0] <=> $a->[0] } values %$fdi;
    my @r = sort { $a <=> $b } map { $_->[0] } values %{ $bl->{rss} };
    $bl->{rss_min} = $r[0] // 0;
    return $bl;
}

# One memory sample against the baseline; keeps the largest growth.
sub sample {
    my ($self, $bl) = @_;
    my $now = $self->children_rss;
    my ($g, $h) = (0, 0);
    for my $pid (keys %$now) {
        my $base = $bl->{rss}{$pid};
        $g += $now->{$pid}[0] - ($base ? $base->[0] : $bl->{rss_min});
        $h += $now->{$pid}[1] - $base->[1] if $base && $now->{$pid}[1] > $base->[1];
    }
    $bl->{max_growth} = $g if $g > $bl->{max_growth};
    $bl->{max_growth} = $h if $h > $bl->{max_growth};
    my $n = keys %$now;
    $bl->{max_children} = $n if $n > ($bl->{max_children} // 0);
    return $g;
}

# Polls $cond every 0.2 s for up to $limit s (times WS_TEST_TIME_FACTOR);
# returns its last value.
sub poll_until {
    my ($limit, $cond) = @_;
    my $deadline = time + WSTestEnv::scaled($limit);
    while (1) {
        my $v = $cond->();
        return $v if $v || time >= $deadline;
        sleep 0.2;
    }
}

sub prober {
    my ($self, %o) = @_;
    return Hostile::Prober->new($self, %o);
}

sub crashes_since {
    my ($self, $bl) = @_;
    open my $fh, '<', $self->{error_log} or return ();
    seek $fh, $bl->{log_off}, 0;
    return grep { /AH00052: child pid \d+ exit signal/ } <$fh>;
}

sub assert_up {
    my ($self, $bl, $what) = @_;
    my @crash = $self->crashes_since($bl);
    my $alive = kill 0, $self->{parent};
    my @gone;
    if ($self->{mpm} eq 'event' && !$self->{restarted}) {
        my %now = map { $_ => 1 } $self->children;
        @gone = grep { !$now{$_} } keys %{ $bl->{fds} };
    }
    Test::More::ok($alive && !@crash && !@gone, "$what: the server stayed up (parent alive, "
                   . 'no child crashed'
                   . ($self->{mpm} eq 'event' && !$self->{restarted} ? ', same children' : '') . ')')
        or Test::More::diag("parent alive: " . ($alive ? 1 : 0) . "; crashes: @crash; "
                            . "children gone: @gone");
}

sub assert_memory {
    my ($self, $bl, $limit, $what) = @_;
    $self->sample($bl);
    my $msg = sprintf('%s: the children grew by %.1f MiB at most (bound %.1f MiB)',
                      $what, $bl->{max_growth} / MiB, $limit / MiB);
    if ($ENV{WS_ASAN_DIR}) {
        SKIP: { Test::More::skip("$msg: meaningless under ASan (quarantine)", 1) }
        return;
    }
    if (WSTestEnv::valgrind() && !$self->{httpd}) {   # private httpds run natively
        SKIP: { Test::More::skip("$msg: meaningless under valgrind (shadow memory)", 1) }
        return;
    }
    Test::More::cmp_ok($bl->{max_growth}, '<=', $limit, $msg);
}

# Two tests: WebSocketsOpen and the children's fds back to the baseline.
sub assert_back_to_baseline {
    my ($self, $bl, %o) = @_;
    my $limit = $o{timeout} // 10;
    my $what = $o{what} // 'afterwards';
    my $t0 = time;
    my $open;
    poll_until($limit, sub { $open = $self->ws_open; defined $open && $open <= $bl->{open} });
    $open //= 'unknown';
    Test::More::ok($open ne 'unknown' && $open <= $bl->{open},
                   sprintf('%s: WebSocketsOpen back to %d (now %s, %.1f s)', $what,
                           $bl->{open}, $open, time - $t0));
    my @over;
    poll_until($limit, sub { @over = $self->fds_over($bl); !@over });
    Test::More::ok(!@over, sprintf('%s: every child\'s open fds back to the baseline (%.1f s)',
                                   $what, time - $t0))
        or Test::More::diag("over: @over");
}

sub assert_all {
    my ($self, $bl, $p, %o) = @_;
    my $what = $o{what} // 'hostile clients';
    $self->assert_memory($bl, $o{max_growth} // 64 * MiB, $what);
    $p->assert($what, $o{min_probes} // 3);
    $p->close;
    $self->assert_back_to_baseline($bl, %o, what => $what);
    $self->assert_up($bl, $what);
}

package Hostile::Prober;

# An ordinary client meanwhile: an /echo WebSocket that sends a numbered
# message when tick() is due (every 0.25 s unless told) and expects its echo
# within 2 s (reconnect => 1: across a 1001, see tick()).

use Time::HiRes qw(time);
use WSClient qw(OP_TEXT);

sub new {
    my ($class, $s, %o) = @_;
    my $self = bless { n => 0, bad => [], worst => 0, every => $o{every} // 0.25,
                       next => 0, server => $s, path => $o{path} // '/echo',
                       reconnect => $o{reconnect}, reconnects => 0 }, $class;
    $self->connect;
    return $self;
}

sub connect {
    my ($self) = @_;
    my $ws = WSClient->new(port => $self->{server}->port, tls => 0, timeout => 10);
    my $res = $ws->handshake(path => $self->{path});
    if ($res->{status} == 101) { $self->{ws} = $ws }
    else { push @{ $self->{bad} }, "handshake: $res->{status}"; delete $self->{ws} }
}

# One round trip if it is due (or $force); returns 1 if it echoed (or was not due).
sub tick {
    my ($self, $force) = @_;
    return 1 unless $self->{ws} && ($force || time >= $self->{next});
    my $t0 = time;
    my $text = "probe $self->{n}";
    $self->{ws}->send_text($text);
    my $m = $self->{ws}->read_message(2);
    # reconnect => 1 (across a graceful restart): a 1001 is answered, and
    # the message sent again on a new connection, within the same 2 s.
    if ($self->{reconnect} && $m && $m->{opcode} == WSClient::OP_CLOSE && ($m->{code} // 0) == 1001) {
        $self->{ws}->close(1001);
        $self->{reconnects}++;
        $self->connect;
        return 0 unless $self->{ws};
        $self->{ws}->send_text($text);
        $m = $self->{ws}->read_message(2 - (time - $t0) > 0.1 ? 2 - (time - $t0) : 0.1);
    }
    my $dt = time - $t0;
    $self->{worst} = $dt if $dt > $self->{worst};
    $self->{n}++;
    $self->{next} = time + $self->{every};
    return 1 if $m && $m->{opcode} == OP_TEXT && $m->{payload} eq $text;
    push @{ $self->{bad} }, "$text: " . WSClient::describe($m) . sprintf(' after %.2f s', $dt);
    delete $self->{ws};                  # a lost probe ends the prober
    return 0;
}

sub assert {
    my ($self, $what, $min) = @_;
    $self->tick(1);
    Test::More::ok(!@{ $self->{bad} } && $self->{n} >= $min,
                   sprintf('%s: meanwhile an /echo client got each of its %d echoes within 2 s '
                           . '(worst %.2f s)', $what, $self->{n}, $self->{worst}))
        or Test::More::diag(join "\n", @{ $self->{bad} }[0 .. ($#{ $self->{bad} } > 3 ? 3 : $#{ $self->{bad} })]);
}

sub close {
    my ($self) = @_;
    my $ws = delete $self->{ws} or return;
    $ws->close(1000);
    $ws->read_close(5);
    $ws->wait_eof(5);
    $ws->disconnect;
}

1;
