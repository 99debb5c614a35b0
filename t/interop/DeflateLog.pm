package DeflateLog;

# The server's side of the permessage-deflate interop checks: the
# /deflate locations log one line per closed WebSocket to t/logs/error_log,
#     WS00310: WSLOG /deflate ext=permessage-deflate in=<bytes> out=<bytes> close=<code>
# with "[remote 127.0.0.1:<client port>]" in front (the line is logged for
# the connection; "[client ...]" when httpd logs it for the request, as
# under prefork).  The deflate clients
# print, for each such WebSocket they closed, a line
#     {"conn": {"port": P, "path": "/deflate...", "raw_in": a, "raw_out": b, "close": c}}
# with the raw bytes they counted below their WebSocket library (after the
# opening handshake).  compare() finds each one's log line and checks that
# both ends saw the same bytes: what the client counted really is the wire,
# and the server logged the extension.
#
#   my $mark = DeflateLog::mark();          # before the client runs
#   my $run  = InteropClient::run(...);
#   DeflateLog::compare($run, $mark, min => 10);   # one ok()

use strict;
use warnings;

use Apache::Test ();
use File::Spec ();
use Test::More ();
use Time::HiRes ();

sub log_file { File::Spec->catfile(Apache::Test::vars('t_logs'), 'error_log') }

sub mark { -s log_file() // 0 }

sub read_from {
    my ($off) = @_;
    open(my $fh, '<', log_file()) or return '';
    seek($fh, $off, 0);
    local $/;
    return <$fh> // '';
}

sub compare {
    my ($run, $mark, %a) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my @conns = map { $_->{conn} } grep { ref $_->{conn} eq 'HASH' } @{ $run->{extra} };
    my $min = $a{min} // 1;
    my $desc = "$run->{name}: the server's WSLOG bytes equal the client's raw counts";
    if (@conns < $min) {
        Test::More::ok(0, $desc);
        Test::More::diag("  only " . scalar(@conns) . " connection records from the client, expected >= $min");
        return;
    }
    # The line is written as the server tears the WebSocket down, which may
    # be just after the client saw the TCP close: wait for it, bounded.
    my $deadline = Time::HiRes::time() + ($a{wait} // 5);
    my (%line, @missing);
    for (;;) {
        my $log = read_from($mark);
        %line = ();
        while ($log =~ /\[(?:remote|client) 127\.0\.0\.1:(\d+)\] WS00310: WSLOG (\S+) ext=(\S+) in=(\d+) out=(\d+) close=(\d+)/g) {
            $line{$1} = { path => $2, ext => $3, in => $4, out => $5, close => $6 };
        }
        @missing = grep { !$line{ $_->{port} } } @conns;
        last if !@missing || Time::HiRes::time() > $deadline;
        Time::HiRes::sleep(0.05);
    }
    my @bad;
    push @bad, "no WSLOG line for client port $_->{port} ($_->{path})" for @missing;
    for my $c (@conns) {
        my $l = $line{ $c->{port} } or next;
        my $what = "port $c->{port} $c->{path}";
        push @bad, "$what: logged path $l->{path}" if $l->{path} ne $c->{path};
        push @bad, "$what: logged ext=$l->{ext}" if $l->{ext} ne 'permessage-deflate';
        push @bad, "$what: logged close=$l->{close}, the client saw $c->{close}"
            if $l->{close} != ($c->{close} // -1);
        push @bad, "$what: server out=$l->{out}, client received $c->{raw_in}"
            if $l->{out} != $c->{raw_in};
        # After a close of its own (1009) the server need not count the
        # client's answer: at most what the client wrote.
        my $in_ok = $l->{close} == 1000 ? $l->{in} == $c->{raw_out} : $l->{in} <= $c->{raw_out};
        push @bad, "$what: server in=$l->{in}, client wrote $c->{raw_out}" if !$in_ok;
    }
    Test::More::ok(!@bad, $desc . ' (' . scalar(@conns) . ' WebSockets)')
        or do { Test::More::diag("  $_") for @bad };
}

1;
