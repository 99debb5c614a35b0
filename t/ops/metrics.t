# The Prometheus exposition (SetHandler websocket-metrics at
# /websocket-metrics, t/conf/extra.conf.in) and the close-code and limit
# counters, against the suite's server.
#
# 1. The page: 200, Content-Type "text/plain; version=0.0.4", and it parses
#    under a strict reader of the text format (t/lib/WSStats.pm: HELP and
#    TYPE once per family and before its samples, `name{labels} value`,
#    counters named *_total, no repeated series).
# 2. The families and labels promised: every close code and limit.
# 3. It says what /server-status?auto says, number for number (read while
#    the numbers are still: metrics, ?auto, metrics again, equal).
# 4. Closes by code: 9 WebSockets ended in 8 ways (client close 1000 twice,
#    1001, 1003 and 4000 -> "other"; vanished -> 1006; a reserved opcode ->
#    our 1002; invalid UTF-8 -> our 1007; over WebSocketMaxMessageSize on
#    /small -> our 1009): each code's counter grows by exactly its count, in
#    ?auto and in the metrics; max_message by exactly 1.
# 5. WS_EFULL: a flood on /bp (WebSocketMaxPendingOutput 65536) meets it k
#    times (the test handler's floodstats); pending_output grows by k.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use WSClient qw(OP_TEXT OP_BINARY OP_CLOSE);
use WSStats;
use Time::HiRes qw(time);

my $PORT = WSClient::server_port(0);
my @CODES = (1000, 1001, 1002, 1003, 1005, 1006, 1007, 1008, 1009, 1010, 1011, 1013, 'other');
my @LIMITS = qw(max_message pending_output send_timeout slow_subscriber pubsub_queue);

# metrics family => ?auto field
my %PLAIN = (
    mod_websocket_connections_open => 'WebSocketsOpen',
    mod_websocket_connections_total => 'WebSocketsTotal',
    mod_websocket_messages_in_total => 'WebSocketMessagesIn',
    mod_websocket_messages_out_total => 'WebSocketMessagesOut',
    mod_websocket_bytes_in_total => 'WebSocketBytesIn',
    mod_websocket_bytes_out_total => 'WebSocketBytesOut',
    mod_websocket_publications_dropped_total => 'WebSocketPublicationsDropped',
);
my %TYPE = ((map { $_ => 'counter' } grep { /_total$/ } keys %PLAIN),
            mod_websocket_connections_open => 'gauge',
            mod_websocket_closes_total => 'counter',
            mod_websocket_limit_hits_total => 'counter',
            mod_websocket_pubsub_links_up => 'gauge',
            mod_websocket_pubsub_connects_total => 'counter',
            mod_websocket_pubsub_sent_total => 'counter',
            mod_websocket_pubsub_received_total => 'counter',
            mod_websocket_children => 'gauge',
            mod_websocket_children_retired_total => 'counter',
            mod_websocket_child_connections_open => 'gauge',
            mod_websocket_child_connections_total => 'counter');

plan tests => 3 + 3 + 2 + 1 + 2 * @CODES + 2 + 3;

sub camel { join '', map { ucfirst } split /_/, $_[0] }
sub auto_close { "WebSocketCloses" . ($_[0] eq 'other' ? 'Other' : $_[0]) }

# 1.
my $m = WSStats::metrics($PORT);
is($m->{status}, 200, 'GET /websocket-metrics: 200');
is($m->{ctype}, 'text/plain; version=0.0.4', '... Content-Type text/plain; version=0.0.4');
ok(!@{ $m->{errors} }, '... and it parses strictly (' . scalar(@{ $m->{samples} }) . ' samples)')
    or diag(join("\n", @{ $m->{errors} }) . "\n$m->{raw}");

# 2.
{
    my @wrong = grep { ($m->{type}{$_} // 'none') ne $TYPE{$_} } sort keys %TYPE;
    ok(!@wrong, 'every promised family is there with its TYPE')
        or diag(join ', ', map { "$_: " . ($m->{type}{$_} // 'missing') } @wrong);
    my @no = grep { !defined WSStats::sample($m, 'mod_websocket_closes_total', code => $_) } @CODES;
    ok(!@no, 'closes_total has a series per code: ' . join(' ', @CODES)) or diag("missing: @no");
    @no = grep { !defined WSStats::sample($m, 'mod_websocket_limit_hits_total', limit => $_) } @LIMITS;
    ok(!@no, "limit_hits_total has a series per limit: @LIMITS") or diag("missing: @no");
}

# 3.  The numbers of metrics page $m as ?auto names them.
sub as_auto {
    my ($m) = @_;
    my %v = map { $PLAIN{$_} => WSStats::sample($m, $_) } keys %PLAIN;
    $v{ auto_close($_) } = WSStats::sample($m, 'mod_websocket_closes_total', code => $_) for @CODES;
    $v{ 'WebSocketLimit' . camel($_) } = WSStats::sample($m, 'mod_websocket_limit_hits_total', limit => $_)
        for @LIMITS;
    $v{WebSocketChildrenRetired} = WSStats::sample($m, 'mod_websocket_children_retired_total');
    return \%v;
}

sub differences {
    my ($want, $got) = @_;
    return map { "$_: " . ($want->{$_} // 'undef') . ' vs ' . ($got->{$_} // 'undef') }
           grep { ($want->{$_} // -1) != ($got->{$_} // -2) } sort keys %$want;
}

{
    my ($auto, @diff, $stable);
    my $deadline = time + 10;
    while (time < $deadline) {
        my $m1 = as_auto(WSStats::metrics($PORT));
        $auto = WSStats::auto($PORT);
        my $m2 = as_auto(WSStats::metrics($PORT));
        next if differences($m1, $m2);    # something moved meanwhile: again
        $stable = 1;
        my %a = (%{ $auto->{total} }, WebSocketChildrenRetired => $auto->{children_retired});
        @diff = differences($m1, { map { $_ => $a{$_} } keys %$m1 });
        last;
    }
    ok($stable && !@diff, 'the metrics say what ?auto says, number for number')
        or diag($stable ? join("\n", @diff) : 'the numbers never held still for 10 s');
    my $am = WSStats::metrics($PORT);
    my @kids = grep { defined WSStats::sample($am, 'mod_websocket_child_connections_open',
                                             pid => $_, generation => $auto->{gen}{$_}) }
               keys %{ $auto->{gen} };
    cmp_ok(scalar @kids, '>=', 1, "... and a child_connections_open{pid,generation} for ?auto's children (@kids)");
}

# 4.
sub open_ws {
    my ($path) = @_;
    my ($ws, $res) = WSClient->open_ws($path, timeout => 10, tls => 0);
    die "handshake on $path failed: status $res->{status}\n" unless $res->{status} == 101;
    return $ws;
}

# The client closes with $code (undef: vanishes without a close frame).
sub client_closes {
    my ($code) = @_;
    my $ws = open_ws('/echo');
    $ws->send_text('hello');
    $ws->read_message(10);
    if (!defined $code) { $ws->disconnect; return }
    $ws->close($code);
    $ws->read_close(10);
    $ws->wait_eof(5);
    $ws->disconnect;
}

# The server closes (fails the connection) after what $send sends.
sub server_closes {
    my ($path, $send) = @_;
    my $ws = open_ws($path);
    $send->($ws);
    my $f = $ws->read_close(10);
    $ws->close($f ? $f->{code} : 1000);
    $ws->wait_eof(5);
    $ws->disconnect;
    return $f ? $f->{code} : 'none';
}

my $before = WSStats::auto($PORT);
my $m_before = WSStats::metrics($PORT);
my %want = (1000 => 2, 1001 => 1, 1003 => 1, other => 1, 1006 => 1, 1002 => 1, 1007 => 1, 1009 => 1);
client_closes($_) for 1000, 1000, 1001, 1003, 4000, undef;
my @server = (
    server_closes('/echo', sub { $_[0]->send_frame(opcode => 3, payload => 'x') }),
    server_closes('/echo', sub { $_[0]->send_text("\xff\xfe\xfd") }),
    server_closes('/small', sub { $_[0]->send_binary('x' x 2000) }),
);
is("@server", '1002 1007 1009', 'the server closed with 1002, 1007 and 1009');
my $n = 0;
$n += $_ for values %want;
my ($after, $m_after);
{
    my $deadline = time + 10;
    while (1) {
        $after = WSStats::auto($PORT);
        my $ended = 0;
        $ended += ($after->{total}{ auto_close($_) } // 0) - ($before->{total}{ auto_close($_) } // 0)
            for @CODES;
        last if $ended >= $n || time >= $deadline;
        select(undef, undef, undef, 0.05);
    }
    $m_after = WSStats::metrics($PORT);
}
for my $code (@CODES) {
    my $f = auto_close($code);
    my $d = ($after->{total}{$f} // 0) - ($before->{total}{$f} // 0);
    is($d, $want{$code} // 0, "?auto $f grew by " . ($want{$code} // 0));
    my $md = (WSStats::sample($m_after, 'mod_websocket_closes_total', code => $code) // 0)
           - (WSStats::sample($m_before, 'mod_websocket_closes_total', code => $code) // 0);
    is($md, $want{$code} // 0, "... closes_total{code=\"$code\"} too");
}
is(($after->{total}{WebSocketLimitMaxMessage} // 0) - ($before->{total}{WebSocketLimitMaxMessage} // 0),
   1, 'WebSocketLimitMaxMessage grew by exactly 1 (the 1009)');
is(($after->{total}{WebSocketsTotal} // 0) - ($before->{total}{WebSocketsTotal} // 0),
   $n, "WebSocketsTotal grew by $n");

# 5.
{
    my $b = WSStats::auto($PORT);
    my $ws = open_ws('/bp');
    my $count = 200;
    $ws->send_text("flood 8192 $count");
    my $got = 0;
    while ($got < $count) {
        my $f = $ws->read_message(10) or last;
        $got++ if $f->{opcode} == OP_BINARY;
    }
    $ws->send_text('floodstats');
    my $st = $ws->read_message(10);
    my ($efull) = ($st && $st->{payload} // '') =~ /efull=(\d+)/;
    $ws->close(1000);
    $ws->read_close(10);
    $ws->disconnect;
    is($got, $count, "/bp: the flood of $count messages arrived");
    cmp_ok($efull // 0, '>', 0, "... and met WS_EFULL (efull=" . ($efull // 'undef') . ')');
    my $a = WSStats::auto($PORT);
    is($a->{total}{WebSocketLimitPendingOutput} - $b->{total}{WebSocketLimitPendingOutput},
       $efull // -1, 'WebSocketLimitPendingOutput grew by exactly the WS_EFULL answers');
}
