# mod_status: the module's counters in /server-status?auto and the
# "WebSockets (mod_websocket)" table of the HTML page.
#
# Three WebSockets to /echo exchange known messages; a snapshot of ?auto
# taken while they are open is compared with one taken before.  The
# increases are computed per child from the Child<pid>... lines (a child
# missing from the first snapshot counts from 0): the whole-server numbers
# are sums over the children alive at that moment, and under prefork an idle
# child may be reaped (and its counters leave the sum) between snapshots.
# After the three close, WebSocketsOpen must drop back (bounded poll).
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use Apache::TestRequest qw(GET);
use WSClient qw(random_bytes OP_TEXT OP_BINARY);
use Time::HiRes qw(time);
use WSTestEnv ();

my @FIELDS = qw(WebSocketsOpen WebSocketsTotal WebSocketMessagesIn
                WebSocketMessagesOut WebSocketBytesIn WebSocketBytesOut);

plan tests => 3 + 1 + 6 + 3 + 2 + 6;

sub frame_len {
    my ($n, $masked) = @_;
    return 2 + ($n < 126 ? 0 : $n < 65536 ? 2 : 8) + ($masked ? 4 : 0) + $n;
}

# { total => { field => n }, child => { pid => { field => n } }, raw => text }
sub snapshot {
    my $res = GET('/server-status?auto');
    die "GET /server-status?auto: " . $res->status_line . "\n" unless $res->is_success;
    my %s = (raw => $res->content, total => {}, child => {}, retired => {});
    for my $line (split /\n/, $res->content) {
        if ($line =~ /^Retired(WebSocket\w+): (\d+)$/) {
            $s{retired}{$1} = $2;
        }
        elsif ($line =~ /^Child(\d+)(WebSocket\w+): (\d+)$/) {
            $s{child}{$1}{$2} = $3;
        }
        elsif ($line =~ /^(WebSocket\w+): (\d+)$/) {
            $s{total}{$1} = $2;
        }
    }
    return \%s;
}

# Sum over the children of (after - before), a new child counting from 0.
sub child_delta {
    my ($before, $after, $field) = @_;
    my $d = 0;
    for my $pid (keys %{ $after->{child} }) {
        $d += ($after->{child}{$pid}{$field} // 0) - ($before->{child}{$pid}{$field} // 0);
    }
    return $d;
}

# Children gone are folded into the Retired... lines: the whole server is
# the live children plus those.
sub consistent {
    my ($s) = @_;
    my @bad;
    for my $f (@FIELDS) {
        my $sum = $s->{retired}{$f} // 0;
        $sum += $_->{$f} // 0 for values %{ $s->{child} };
        push @bad, "$f: total $s->{total}{$f} != sum of children $sum"
            if ($s->{total}{$f} // -1) != $sum;
    }
    return @bad;
}

my $before = snapshot();
{
    my @missing = grep { !defined $before->{total}{$_} } @FIELDS;
    ok(!@missing, '?auto has the six whole-server WebSocket lines')
        or diag("missing: @missing\n$before->{raw}");
    ok(scalar keys %{ $before->{child} }, '... and Child<pid> lines');
    my @bad = consistent($before);
    ok(!@bad, '... whose sums are the whole-server numbers') or diag(join "\n", @bad);
}

# Three WebSockets, three messages each (text 10 B, binary 200 B, binary
# 70,000 B: 7-bit, 16-bit and 64-bit length forms).
my @sizes = (10, 200, 70000);
my ($msgs, $bytes_in, $bytes_out) = (0, 0, 0);
my @ws;
my $echo_ok = 1;
for my $i (1 .. 3) {
    my ($ws, $res) = WSClient->open_ws('/echo', timeout => 10);
    die "handshake on /echo failed: status $res->{status}\n" unless $res->{status} == 101;
    for my $n (@sizes) {
        my $payload = $n == 10 ? 'x' x 10 : random_bytes($n);
        $n == 10 ? $ws->send_text($payload) : $ws->send_binary($payload);
        my $m = $ws->read_message(10);
        $echo_ok = 0 unless $m && $m->{payload} eq $payload;
        $msgs++;
        $bytes_in  += frame_len($n, 1);
        $bytes_out += frame_len($n, 0);
    }
    push @ws, $ws;
}
ok($echo_ok, "3 WebSockets exchanged $msgs messages ($bytes_in bytes in, $bytes_out out on the wire)");

my $during = snapshot();
{
    cmp_ok($during->{total}{WebSocketsOpen} // 0, '>=', 3, 'while open: WebSocketsOpen >= 3');
    my %want = (WebSocketsTotal => 3, WebSocketMessagesIn => $msgs, WebSocketMessagesOut => $msgs,
                WebSocketBytesIn => $bytes_in, WebSocketBytesOut => $bytes_out);
    for my $f (sort keys %want) {
        my $d = child_delta($before, $during, $f);
        cmp_ok($d, '>=', $want{$f}, "$f grew by at least $want{$f} (by $d)");
    }
    diag(sprintf 'whole server before/while open: %s',
         join ', ', map { "$_ $before->{total}{$_}/$during->{total}{$_}" } @FIELDS);
}
{
    my @open = grep { ($during->{child}{$_}{WebSocketsOpen} // 0) > 0 } keys %{ $during->{child} };
    ok(@open, 'a Child<pid>WebSocketsOpen line counts the open WebSockets')
        or diag($during->{raw});
    my $sum = 0;
    $sum += $during->{child}{$_}{WebSocketsOpen} for @open;
    cmp_ok($sum, '>=', 3, "... together at least 3 ($sum in children @open)");
    # Those pids are children of the server's parent.
    my $pidfile = Apache::Test::vars('t_logs') . '/httpd.pid';
    my $parent = do { open my $fh, '<', $pidfile or die "$pidfile: $!"; local $/; <$fh> };
    chomp $parent;
    my @strangers = grep {
        my ($pid, $ppid) = ($_);
        # (Not while (<$st>): that would assign to $_, an alias of @open's element.)
        if (open my $st, '<', "/proc/$pid/status") {
            while (my $l = <$st>) { $ppid = $1 if $l =~ /^PPid:\s+(\d+)/ }
        }
        # A one-process server (make test-valgrind) is its own "child".
        ($ppid // -1) != $parent && !(WSTestEnv::one_process() && $pid == $parent);
    } @open;
    ok(!@strangers, "... and they are children of httpd ($parent)")
        or diag("not children of $parent: @strangers");
}
{
    my @bad = consistent($during);
    ok(!@bad, 'while open: the whole-server lines are the sums of the Child lines')
        or diag(join "\n", @bad);
}

# Close all three; WebSocketsOpen must drop back.
for my $ws (@ws) {
    $ws->close(1000);
}
for my $ws (@ws) {
    $ws->read_close(10);
    $ws->wait_eof(5);
    $ws->disconnect;
}
{
    my $deadline = time + 10;
    my $s;
    while (1) {
        $s = snapshot();
        last if ($s->{total}{WebSocketsOpen} // 99) <= ($before->{total}{WebSocketsOpen} // 0)
             || time >= $deadline;
        select(undef, undef, undef, 0.1);
    }
    cmp_ok($s->{total}{WebSocketsOpen} // 99, '<=', $before->{total}{WebSocketsOpen} // 0,
           "after closing: WebSocketsOpen drops back to $before->{total}{WebSocketsOpen} within 10 s");
}

# The HTML page.
{
    my $res = GET('/server-status');
    ok($res->is_success, 'GET /server-status (HTML)');
    my $html = $res->content;
    like($html, qr{<h2>WebSockets \(mod_websocket\)</h2>}, '... has the "WebSockets (mod_websocket)" heading');
    like($html, qr{<th>child pid</th><th>generation</th><th>open</th>\s*<th>total</th><th>messages in</th><th>messages out</th>\s*<th>bytes in</th><th>bytes out</th>},
         '... and its table header');
    like($html, qr{<tr><td>all</td><td></td>(?:<td>\d+</td>){6}</tr>}, '... and an "all" row of six numbers');
    like($html, qr{<tr><td>retired \(\d+ children\)</td><td></td>(?:<td>\d+</td>){6}</tr>},
         '... and a "retired" row');
    like($html, qr{<tr><th>closes by code</th><th>1000</th>.*<th>other</th></tr>\s*<tr><td>all</td>(?:<td>\d+</td>){13}</tr>}s,
         '... and the closes by code');
}
