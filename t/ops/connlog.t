# One error-log line per closed WebSocket (message ID WS00310, level info),
# in the format of WebSocketLogFormat.  /logfmt (t/conf/extra.conf.in) logs
#     WSLOG %U %c %w %{in}m %{out}m %{in}b %{out}b %P
# and the suite's LogLevel is info.
#
# Byte counts are wire bytes, frame headers included: a client frame has a
# 2-byte header, +2 (or +8) for a 16-bit (64-bit) length, +4 for the mask;
# a server frame the same without the mask.
#
# Cases: the client closes with 1000; the server closes ("Goodbye" makes the
# echo handler close with 1000); the client vanishes (FIN without a close
# frame; RST); the default format on /echo; byte counts when backpressure
# pauses reading (/bp).  Each line is found by the
# client's port in the line's [remote ip:port] prefix, polling the log with
# a deadline.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use Apache::TestRequest ();
use WSClient qw(random_bytes OP_TEXT OP_BINARY OP_CLOSE);
use Time::HiRes qw(time);

my $logs = Apache::Test::vars('t_logs');
my $error_log = "$logs/error_log";

plan tests => 4 + 3 + 5 + 2 + 2 + 1,
    sub { -r $error_log ? 1 : "no $error_log (stand-in server?)" };

# Frame sizes on the wire.
sub frame_len {
    my ($payload_len, $masked) = @_;
    my $ext = $payload_len < 126 ? 0 : $payload_len < 65536 ? 2 : 8;
    return 2 + $ext + ($masked ? 4 : 0) + $payload_len;
}
sub client_frame { frame_len($_[0], 1) }
sub server_frame { frame_len($_[0], 0) }

sub log_size { -s $error_log // 0 }

# New WS00310 lines since $offset for the client port $port, polled until
# one appears or $timeout passes.  Returns the list of lines found.
sub wait_log_lines {
    my ($offset, $port, $timeout) = @_;
    my $deadline = time + ($timeout // 10);
    while (1) {
        my @lines = log_lines($offset, $port);
        return @lines if @lines || time >= $deadline;
        select(undef, undef, undef, 0.05);
    }
}

sub log_lines {
    my ($offset, $port) = @_;
    open my $fh, '<', $error_log or die "$error_log: $!\n";
    seek $fh, $offset, 0;
    my @lines;
    while (my $l = <$fh>) {
        chomp $l;
        push @lines, $l if $l =~ /\bWS00310: / && $l =~ /\[(?:client|remote) 127\.0\.0\.1:\Q$port\E\]/;
    }
    close $fh;
    return @lines;
}

sub message_of {
    my ($line) = @_;
    return undef unless defined $line;
    return $line =~ /\bWS00310: (.*)$/ ? $1 : undef;
}

sub open_ws {
    my ($path) = @_;
    my ($ws, $res) = WSClient->open_ws($path, timeout => 10);
    die "handshake on $path failed: status $res->{status}\n$res->{raw}\n"
        unless $res->{status} == 101;
    return $ws;
}

my $start = log_size();
my %ports;

# 1. The client closes with 1000 after a text and a binary message.
{
    my $off = log_size();
    my $ws = open_ws('/logfmt');
    my $port = $ws->sock->sockport;
    $ports{$port}++;
    my $bin = random_bytes(300);
    $ws->send_text('hello');
    my $m1 = $ws->read_message(10);
    $ws->send_binary($bin);
    my $m2 = $ws->read_message(10);
    ok($m1 && $m1->{payload} eq 'hello' && $m2 && $m2->{opcode} == OP_BINARY
       && $m2->{payload} eq $bin, 'client close: both messages echoed');
    $ws->close(1000);
    my $f = $ws->read_close(10);
    is($f ? $f->{code} : undef, 1000, '... the server answers the close with 1000');
    $ws->wait_eof(5);
    $ws->disconnect;
    my $in  = client_frame(5) + client_frame(300) + client_frame(2);
    my $out = server_frame(5) + server_frame(300) + server_frame(2);
    my @lines = wait_log_lines($off, $port);
    is(message_of($lines[0]), "WSLOG /logfmt 1000 client 2 2 $in $out -",
       "client close: the line says 1000 by client, 2/2 messages, $in/$out bytes")
        or diag("lines: @lines");
    like($lines[0] // '', qr/\[websocket:info\]/, '... logged at level info by mod_websocket');
}

# 2. The server closes: "Goodbye" is echoed, then the echo handler closes
#    with 1000 "Goodbye"; the client answers with 1000.
{
    my $off = log_size();
    my $ws = open_ws('/logfmt');
    my $port = $ws->sock->sockport;
    $ports{$port}++;
    $ws->send_text('Goodbye');
    my $m = $ws->read_message(10);
    my $f = $ws->read_close(10);
    ok($m && $m->{payload} eq 'Goodbye' && $f && ($f->{code} // 0) == 1000
       && $f->{reason} eq 'Goodbye', 'server close: echo, then close 1000 "Goodbye"')
        or diag('got ' . WSClient::describe($m) . ' / ' . WSClient::describe($f));
    $ws->close(1000);
    ok($ws->wait_eof(5), '... the server ends TCP');
    $ws->disconnect;
    my $in  = client_frame(7) + client_frame(2);
    my $out = server_frame(7) + server_frame(2 + 7);
    my @lines = wait_log_lines($off, $port);
    is(message_of($lines[0]), "WSLOG /logfmt 1000 server 1 1 $in $out -",
       "server close: the line says 1000 by server, 1/1 messages, $in/$out bytes")
        or diag("lines: @lines");
}

# 3. The client vanishes: FIN without a close frame, then RST.
for my $how (qw(fin rst)) {
    my $off = log_size();
    my $ws = open_ws('/logfmt');
    my $port = $ws->sock->sockport;
    $ports{$port}++;
    $ws->send_text('bye-bye');
    my $m = $ws->read_message(10);
    my $echoed = $m && $m->{payload} eq 'bye-bye';
    if ($how eq 'fin') { $ws->disconnect } else { $ws->abort }
    my $in  = client_frame(7);
    my $out = server_frame(7);
    my @lines = wait_log_lines($off, $port);
    if ($how eq 'fin') {
        ok($echoed, 'vanishing clients: echo before vanishing');
    }
    is(message_of($lines[0]), "WSLOG /logfmt 1006 abnormal 1 1 $in $out -",
       "vanished client ($how): the line says 1006 abnormal, 1/1 messages, $in/$out bytes")
        or diag("lines: @lines");
    is(scalar @lines, 1, "... exactly one line ($how)");
}

# 4. The default format, on /echo.
{
    my $off = log_size();
    my $ws = open_ws('/echo');
    my $port = $ws->sock->sockport;
    $ports{$port}++;
    $ws->send_text('hello');
    $ws->read_message(10);
    $ws->close(1000);
    $ws->read_close(10);
    $ws->wait_eof(5);
    $ws->disconnect;
    my $in  = client_frame(5) + client_frame(2);
    my $out = server_frame(5) + server_frame(2);
    my @lines = wait_log_lines($off, $port);
    like(message_of($lines[0]) // '',
         qr{^127\.0\.0\.1 /echo proto=- \d+\.\d{3}s in=1/$in out=1/$out close=1000 by client$},
         "default format: \"%a %U proto=%P %Ts in=%{in}m/%{in}b out=%{out}m/%{out}b close=%c by %w\"")
        or diag("lines: @lines");
    ok(defined $lines[0], '... found');
}

# 5. Byte counts under backpressure.  /bp (WebSocketMaxPendingOutput 65536,
#    default format) echoes 100 binary messages of 16 KiB that the client
#    writes in one go before reading any echo: once 32 KiB of echoes wait,
#    the server stops reading in the middle of what it has already read
#    (the rest waits in its input brigade) and resumes later.  Bytes read
#    once must be counted once.
{
    my $off = log_size();
    my $ws = open_ws('/bp');
    my $port = $ws->sock->sockport;
    $ports{$port}++;
    my ($n, $size) = (100, 16384);
    my @msgs = map { random_bytes($size) } 1 .. $n;
    my $data = join '', map { $ws->frame(opcode => OP_BINARY, payload => $_) } @msgs;
    my $r = $ws->exchange($data, $n, 30);
    my $intact = $r->{written} == length($data) && @{ $r->{messages} } == $n
        && !grep { $r->{messages}[$_]{payload} ne $msgs[$_] } 0 .. $n - 1;
    ok($intact, "backpressure: $n x $size B echoed intact");
    $ws->close(1000);
    $ws->read_close(10);
    $ws->wait_eof(5);
    $ws->disconnect;
    my $in  = $n * client_frame($size) + client_frame(2);
    my $out = $n * server_frame($size) + server_frame(2);
    my @lines = wait_log_lines($off, $port);
    like(message_of($lines[0]) // '',
         qr{^127\.0\.0\.1 /bp proto=- \d+\.\d{3}s in=$n/$in out=$n/$out close=1000 by client$},
         "backpressure: in=$n/$in out=$n/$out (bytes read once, counted once)")
        or diag("lines: @lines");
}

# Exactly one line per connection.
{
    my @bad;
    for my $port (sort keys %ports) {
        my @l = log_lines($start, $port);
        push @bad, "port $port: " . scalar(@l) . " lines" if @l != 1;
    }
    ok(!@bad, 'exactly one WS00310 line per WebSocket') or diag(join "\n", @bad);
}
