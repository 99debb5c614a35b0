# httpd -X (one process: httpd's debugging mode, and how `make
# test-valgrind` runs the suite's server) must exit cleanly after serving
# WebSockets, under both MPMs.
#
# A private httpd per MPM (t/lib/PrivateHttpd.pm, one_process => 1) serves
# an echo WebSocket with permessage-deflate (the loop's shared compressors)
# and a chat room (the loop's topic table); then `apache2 -k stop`, and the
# process must exit with status 0, not a signal.
#
# The regression: under mpm_prefork a WebSocket runs on the request's own
# thread, in a per-thread loop whose pool lives in APR's global pool.  The
# loop's scratch buffer, compressors and topic table were freed by cleanups
# of that pool, i.e. by exit()'s apr_terminate(); in one-process mode httpd
# has unloaded mod_websocket.so by then, and the process died with SIGSEGV
# jumping into the module's unmapped code (found by valgrind in `make
# test-valgrind`).  The cleanups now run with the child's pool.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use PrivateHttpd;
use WSClient qw(OP_TEXT);

my $top = Apache::Test::vars('top_dir');
my @mpms = qw(prefork event);

plan tests => 4 * @mpms;

for my $mpm (@mpms) {
    my $h = PrivateHttpd->new(top => $top, name => "x-$mpm", mpm => $mpm,
        one_process => 1, body => <<"CONF");
WebSocketHandlerLoad echo "$top/build/mod_websocket_echo.so" echo
WebSocketHandlerLoad chat "$top/build/mod_websocket_chat.so" chat
<Location /echo>
    WebSocketHandler echo
    WebSocketDeflate On
    WebSocketDeflateMode shared
</Location>
<Location /chat>
    WebSocketHandler chat
</Location>
CONF

    my $ws = WSClient->new(port => $h->port, tls => 0);
    my $res = $ws->handshake(path => '/echo',
        headers => [['Sec-WebSocket-Extensions' => 'permessage-deflate']]);
    my $ext = $res->{headers}{'sec-websocket-extensions'} // '';
    $ws->send_text('hello');                 # uncompressed: RSV1 is optional
    my $m = $ws->read_message(5);
    ok($res->{status} == 101 && $ext =~ /permessage-deflate/ && $m
       && $m->{opcode} == OP_TEXT,
       "$mpm -X: echo with permessage-deflate ($res->{status}, '$ext')");
    $ws->close(1000);
    $ws->read_close(5);
    $ws->disconnect;

    my $chat = WSClient->new(port => $h->port, tls => 0);
    $res = $chat->handshake(path => '/chat?room=x&nick=ann');
    $m = $res->{status} == 101 ? $chat->read_message(5) : undef;
    is($m && $m->{payload}, '* ann joined', "$mpm -X: a chat room (a topic)");
    $chat->close(1000);
    $chat->read_close(5);
    $chat->disconnect;

    my $pid = $h->pid;
    $h->stop;
    my $st = $h->exit_status;
    ok(defined $st, "$mpm -X: the server (pid $pid) exited on -k stop");
    ok(defined $st && $st == 0,
       "$mpm -X: ... with status 0, no signal (wait status " . ($st // 'none')
       . ($st && ($st & 127) ? ", signal " . ($st & 127) : '') . ')')
        or diag($h->log_tail(10));
}
