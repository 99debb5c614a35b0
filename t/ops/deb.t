# t/ops/deb.t - the Debian packages of build/deb/ (`make deb`; `make test`
# builds them first) hold what they should and work from what they hold.
#
# Skipped, saying so, only when build/deb/ has no .deb files.  Otherwise:
# - dpkg-deb -c / -I / -f: libapache2-mod-websocket has the module, one
#   mod_websocket_<name>.so per name in the Makefile's HANDLERS (and no test
#   handler), websocket.load/.conf in mods-available as conffiles, the docs;
#   Depends has apache2-api-20120211 (dh_apache2) and the shared libraries
#   (dh_shlibdeps); the postinst enables the module.  The -dev package has
#   the header (the tree's own), mod_websocket.pc and the handler template.
#   Both carry the version of debian/changelog (a stale build fails).
# - Both are extracted (dpkg-deb -x) into a temporary root; nothing is
#   installed.  The template is built with the extracted mod_websocket.pc
#   alone (PKG_CONFIG_LIBDIR at the extracted root, PKG_CONFIG_SYSROOT_DIR
#   so that its -I points into it), with its Makefile and with the
#   one-command line of the README.
# - A private httpd (/usr/sbin/apache2, the suite's MPM, its own
#   ServerRoot and config in the temporary directory, a free loopback port
#   the kernel picks) loads the EXTRACTED module, includes the extracted
#   websocket.conf with its commented echo example switched on (paths
#   pointed into the root), loads every packaged handler and the template's
#   handler: /echo must echo and /myhandler answer as the template says.
#   Stopped in an END block; every wait bounded.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use File::Temp qw(tempdir);
use File::Copy qw(copy);
use POSIX ();
use IO::Socket::INET;
use Time::HiRes qw(time);
use WSClient qw(OP_TEXT OP_BINARY OP_CLOSE);

my $top    = Apache::Test::vars('top_dir');
my $debdir = "$top/build/deb";
my $HTTPD  = '/usr/sbin/apache2';
my $MODDIR = '/usr/lib/apache2/modules';
my $mpm    = ($ENV{WS_TEST_MPM} // 'event') eq 'prefork' ? 'prefork' : 'event';

my ($mod_deb) = glob "$debdir/libapache2-mod-websocket_*.deb";
my ($dev_deb) = glob "$debdir/libapache2-mod-websocket-dev_*.deb";

plan skip_all => "no Debian packages in build/deb/: build them with `make deb` "
               . "(`make test` does; needs dpkg-dev, debhelper, lintian: scripts/deps.sh)"
    unless $mod_deb || $dev_deb;

# The shipped handlers, from the one list the Makefile builds and installs.
my @handlers = do {
    open my $mk, '<', "$top/Makefile" or die "Makefile: $!";
    my ($line) = grep { /^HANDLERS\s*:?=/ } <$mk>;
    die "no HANDLERS line in the Makefile\n" unless $line;
    $line =~ s/^HANDLERS\s*:?=\s*//;
    split ' ', $line;
};
# The version the packages must carry.
my $version = do {
    open my $cl, '<', "$top/debian/changelog" or die "debian/changelog: $!";
    my ($v) = <$cl> =~ /\(([^)]+)\)/;
    $v;
};

plan tests => 16 + @handlers;

sub run_out {                     # (exit status, stdout+stderr) of a command
    my @cmd = @_;
    my $out = '';
    if (open my $fh, '-|') {
        local $/;
        $out = <$fh> // '';
        close $fh;
        return ($? >> 8, $out);
    }
    open STDERR, '>&', \*STDOUT;
    { exec 'timeout', '60', @cmd }
    print "exec @cmd: $!\n";
    POSIX::_exit(127);              # not exit: no END block in this child
}
sub contents {                    # paths of dpkg-deb -c, without the leading '.'
    my ($deb) = @_;
    my ($rc, $out) = run_out('dpkg-deb', '-c', $deb);
    die "dpkg-deb -c $deb failed: $out" if $rc;
    return { map { (split ' ', $_, 6)[5] =~ s{^\.}{}r => 1 } split /\n/, $out };
}
sub field {
    my ($deb, $f) = @_;
    my ($rc, $out) = run_out('dpkg-deb', '-f', $deb, $f);
    chomp $out;
    return $rc ? '' : $out;
}
sub slurp { open my $fh, '<', $_[0] or return undef; local $/; return <$fh> }

# ---------------------------------------------------------------- contents
ok($mod_deb && $dev_deb, 'build/deb/ has libapache2-mod-websocket and libapache2-mod-websocket-dev')
    or diag('found: ' . join(' ', glob "$debdir/*.deb"));
BAIL_OUT('a package is missing: rerun `make deb`') unless $mod_deb && $dev_deb;

my $mc = contents($mod_deb);
my @want = ("$MODDIR/mod_websocket.so", '/etc/apache2/mods-available/websocket.load',
            '/etc/apache2/mods-available/websocket.conf',
            '/usr/share/doc/libapache2-mod-websocket/README.md.gz',
            '/usr/share/doc/libapache2-mod-websocket/copyright');
my @missing = grep { !$mc->{$_} } @want;
ok(!@missing, 'module package: the module, mods-available/websocket.{load,conf}, README, copyright')
    or diag("missing: @missing\nhas: " . join(' ', sort keys %$mc));
for my $h (@handlers) {
    ok($mc->{"$MODDIR/mod_websocket_$h.so"}, "module package: handler $h (mod_websocket_$h.so)");
}
my @extra = grep { m{^\Q$MODDIR\E/.*\.so$} && !m{/mod_websocket(?:_(?:\w+))?\.so$} } keys %$mc;
my @test_sos = grep { m{/mod_websocket_(\w+)\.so$} && !grep { $_ eq $1 } @handlers }
               grep { m{^\Q$MODDIR\E/} } keys %$mc;
ok(!@extra && !@test_sos, '... and no other shared object (no test handler)')
    or diag("unexpected: @extra @test_sos");

my $depends = field($mod_deb, 'Depends');
my @deps_missing = grep { $depends !~ /(?:^|,\s*)\Q$_\E(?:\s|,|$)/ }
                   qw(apache2-api-20120211 apache2-bin libc6 libapr1 libaprutil1 zlib1g);
ok(!@deps_missing, "Depends: apache2-api-20120211 (dh_apache2) and the shared libraries ($depends)")
    or diag("missing from Depends: @deps_missing");

my ($rc, $info) = run_out('dpkg-deb', '-I', $mod_deb, 'conffiles');
my ($rc2, $postinst) = run_out('dpkg-deb', '-I', $mod_deb, 'postinst');
ok($rc == 0 && $info =~ m{^/etc/apache2/mods-available/websocket\.load$}m
   && $info =~ m{^/etc/apache2/mods-available/websocket\.conf$}m
   && $rc2 == 0 && $postinst =~ /for conf in websocket\s.*?apache2_invoke enmod \$conf/s,
   'mods-available files are conffiles; the postinst enables the module (apache2-maintscript-helper)')
    or diag("conffiles: $info\npostinst: $postinst");

is(join(' ', field($mod_deb, 'Version'), field($dev_deb, 'Version'), field($dev_deb, 'Architecture')),
   "$version $version all", "both packages are version $version (debian/changelog); -dev is Architecture: all")
    or diag('a stale build/deb/? `make deb` rebuilds it');

my $dc = contents($dev_deb);
my $ex = '/usr/share/doc/libapache2-mod-websocket-dev/examples';
my @dev_want = ('/usr/include/mod_websocket/mod_websocket.h', '/usr/share/pkgconfig/mod_websocket.pc',
                "$ex/myhandler.c", "$ex/Makefile");
@missing = grep { !$dc->{$_} } @dev_want;
ok(!@missing, '-dev package: mod_websocket.h, mod_websocket.pc, the handler template')
    or diag("missing: @missing\nhas: " . join(' ', sort keys %$dc));

# ---------------------------------------------------------------- extract
my $tmp  = tempdir('mod_websocket-deb-XXXXXX', TMPDIR => 1, CLEANUP => 1);
chmod 0755, $tmp;
my $root = "$tmp/root";
mkdir $root or die "$root: $!";
my ($x1, $o1) = run_out('dpkg-deb', '-x', $mod_deb, $root);
my ($x2, $o2) = run_out('dpkg-deb', '-x', $dev_deb, $root);
ok($x1 == 0 && $x2 == 0 && -f "$root$MODDIR/mod_websocket.so",
   'both packages extract into a temporary root (dpkg-deb -x)') or diag("$o1$o2");

is(slurp("$root/usr/include/mod_websocket/mod_websocket.h"), slurp("$top/include/mod_websocket.h"),
   'the packaged header is the tree\'s include/mod_websocket.h');

# ---------------------------------------------------------------- the template
# Only the extracted .pc is searched (PKG_CONFIG_LIBDIR replaces the
# default path: a system-wide `make install` does not count), and
# PKG_CONFIG_SYSROOT_DIR puts its -I under the extracted root.
local $ENV{PKG_CONFIG_LIBDIR}      = "$root/usr/share/pkgconfig";
local $ENV{PKG_CONFIG_PATH}        = "$root/usr/share/pkgconfig";
local $ENV{PKG_CONFIG_SYSROOT_DIR} = $root;
my ($pc_rc, $cflags)  = run_out('pkg-config', '--cflags', 'mod_websocket');
my (undef, $pc_ver)   = run_out('pkg-config', '--modversion', 'mod_websocket');
my (undef, $pc_abi)   = run_out('pkg-config', '--variable=abi_version', 'mod_websocket');
s/\s+$// for $cflags, $pc_ver, $pc_abi;
my ($hdr_abi) = slurp("$top/include/mod_websocket.h") =~ /^#define WS_HANDLER_ABI_VERSION (\d+)/m;
is("$pc_rc|$cflags|$pc_ver|$pc_abi", "0|-I$root/usr/include/mod_websocket|$version|$hdr_abi",
   'mod_websocket.pc: cflags into the extracted include dir, the package version, the ABI version');

my $tpl = "$tmp/tpl";
mkdir $tpl or die "$tpl: $!";
copy("$root$ex/$_", "$tpl/$_") or die "copy $_: $!" for qw(myhandler.c Makefile);
my ($mk_rc, $mk_out) = run_out('make', '-C', $tpl, 'CFLAGS=-O2 -Wall -Wextra -Werror');
ok($mk_rc == 0 && -f "$tpl/myhandler.so", 'the template builds with its Makefile (make, -Werror)')
    or diag($mk_out);
my ($cc_rc, $cc_out) = run_out('sh', '-c',
    'cd "$1" && cc -shared -fPIC $(pkg-config --cflags mod_websocket) -o myhandler2.so myhandler.c',
    'sh', $tpl);
ok($cc_rc == 0 && -f "$tpl/myhandler2.so",
   '... and with the one command: cc -shared -fPIC $(pkg-config --cflags mod_websocket) ...')
    or diag($cc_out);

# ---------------------------------------------------------------- private httpd
my $port = do {
    my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Listen => 1,
                                  ReuseAddr => 1) or die "no free port: $!";
    my $p = $s->sockport;
    close $s;
    $p;
};

# websocket.conf as packaged, its echo example switched on: from the
# commented WebSocketHandlerLoad line to the end of its <Location>, one
# leading '#' off (the options inside stay commented), module paths into
# the root.
my $wsconf = slurp("$root/etc/apache2/mods-available/websocket.conf") // '';
my ($on, $enabled) = (0, 0);
my $conf_in = join '', map {
    my $l = $_;
    $on = 1 if $l =~ /^#WebSocketHandlerLoad echo /;
    if ($on) { $l =~ s/^#//; $enabled++; $on = 0 if $l =~ m{^</Location>} }
    $l =~ s{\Q$MODDIR\E/}{$root$MODDIR/}g;
    $l;
} split /^/, $wsconf;
my $load = slurp("$root/etc/apache2/mods-available/websocket.load") // '';
ok($enabled >= 3 && $conf_in =~ m{^<Location /echo>}m && $conf_in =~ m{^\s+WebSocketHandler echo$}m
   && $load =~ m{^LoadModule websocket_module \Q$MODDIR\E/mod_websocket\.so$}m,
   'websocket.conf has the echo example to switch on; websocket.load loads the packaged path')
    or diag("websocket.load:\n$load\nwebsocket.conf as enabled:\n$conf_in");
open my $wc, '>', "$tmp/websocket.conf" or die "$tmp/websocket.conf: $!";
print $wc $conf_in;
close $wc;

# The init function as a handler root would pick it: ws_handler_init if the
# object exports one, else its name.  (The close example exports
# ws_handler_init and close_handler: a lookup of "close" would find libc's
# close(2) among the object's dependencies.)
sub init_of {
    my ($h, $so) = @_;
    my $syms = qx{nm -D --defined-only '$so' 2>/dev/null};
    return $syms =~ /^\S+ T ws_handler_init$/m ? 'ws_handler_init' : $h;
}
my $handler_lines = join '', map {
    my $so = "$root$MODDIR/mod_websocket_$_.so";
    "WebSocketHandlerLoad pkg_$_ \"$so\" " . init_of($_, $so) . "\n"
    . "<Location /pkg_$_>\n    WebSocketHandler pkg_$_\n</Location>\n"
} grep { $_ ne 'echo' } @handlers;
my $conf = "$tmp/httpd.conf";
open my $fh, '>', $conf or die "$conf: $!";
print $fh <<"CONF";
ServerRoot "$tmp"
ServerName 127.0.0.1
Listen 127.0.0.1:$port
PidFile "$tmp/httpd.pid"
ErrorLog "$tmp/error_log"
DefaultRuntimeDir "$tmp"
DocumentRoot "$tmp"
LogLevel warn
LoadModule mpm_${mpm}_module $MODDIR/mod_mpm_$mpm.so
LoadModule authz_core_module $MODDIR/mod_authz_core.so
<IfModule unixd_module>
    User nobody
    Group nogroup
</IfModule>
StartServers 1
<IfModule mpm_event_module>
    ServerLimit 1
    ThreadsPerChild 8
    MaxRequestWorkers 8
    MinSpareThreads 1
    MaxSpareThreads 8
</IfModule>
<IfModule mpm_prefork_module>
    MinSpareServers 1
    MaxSpareServers 4
    MaxRequestWorkers 8
</IfModule>
# The packaged module, from the extracted root (websocket.load names the
# installed path, /usr/lib/apache2/modules, which holds nothing here).
LoadModule websocket_module "$root$MODDIR/mod_websocket.so"
Include "$tmp/websocket.conf"
# The other packaged handlers, each under its own name (init_of above).
$handler_lines
# The -dev template's handler, built above.
WebSocketHandlerLoad myhandler "$tpl/myhandler.so" myhandler
<Location /myhandler>
    WebSocketHandler myhandler
</Location>
CONF
close $fh;

my ($t_rc, $t_out) = run_out($HTTPD, '-t', '-f', $conf);
my ($s_rc, $s_out) = run_out($HTTPD, '-f', $conf, '-k', 'start');
my $started = $s_rc == 0;
END {
    if ($started) {
        my $pid = slurp("$tmp/httpd.pid") // '';
        chomp $pid;
        system('timeout', '20', $HTTPD, '-f', $conf, '-k', 'stop');
        # Bounded: until the parent is gone (then the temp dir may go).
        my $deadline = time + 15;
        while ($pid =~ /^\d+$/ && kill(0, $pid) && time < $deadline) {
            select undef, undef, undef, 0.1;
        }
        kill 'KILL', $pid if $pid =~ /^\d+$/ && kill(0, $pid);
    }
}
# Bounded: until the port accepts (the parent binds it before -k start
# returns; this is a check, not a guess).
my $up;
my $deadline = time + 10;
while ($started && time < $deadline) {
    $up = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Timeout => 1)
        and last;
    select undef, undef, undef, 0.1;
}
close $up if $up;
ok($t_rc == 0 && $started && $up,
   "a private httpd (mpm_$mpm, 127.0.0.1:$port) starts on the extracted module, "
   . 'its websocket.conf, every packaged handler and the template\'s')
    or diag("httpd -t: $t_out\nhttpd -k start: $s_out\nerror_log:\n" . (slurp("$tmp/error_log") // ''));

# /echo: text and binary come back; Goodbye closes (as packaged).
{
    my $ws = WSClient->new(port => $port, tls => 0, timeout => 10);
    my $res = $ws->handshake(path => '/echo');
    my @got;
    if ($res->{status} == 101) {
        $ws->send_text('hello from deb.t');
        push @got, $ws->read_message(10);
        $ws->send_binary("\x00\x01\xfe\xff");
        push @got, $ws->read_message(10);
        $ws->close(1000);
        $ws->read_close(5);
    }
    ok($res->{status} == 101 && $got[0] && $got[0]{opcode} == OP_TEXT
       && $got[0]{payload} eq 'hello from deb.t'
       && $got[1] && $got[1]{opcode} == OP_BINARY && $got[1]{payload} eq "\x00\x01\xfe\xff",
       'ws://127.0.0.1/echo of the packaged module and handler echoes text and binary')
        or diag("status $res->{status}; got: "
                . join(' | ', map { $_ ? "op $_->{opcode} '$_->{payload}'" : 'nothing' } @got));
}

# /myhandler: the template's greeting, then its answer.
{
    my $ws = WSClient->new(port => $port, tls => 0, timeout => 10);
    my $res = $ws->handshake(path => '/myhandler');
    my @got;
    if ($res->{status} == 101) {
        push @got, $ws->read_message(10);
        $ws->send_text('hello');
        push @got, $ws->read_message(10);
        $ws->close(1000);
        $ws->read_close(5);
    }
    is(join(' | ', $res->{status}, map { $_ ? $_->{payload} : 'nothing' } @got[0, 1]),
       '101 | hello from myhandler | myhandler: got 5 text bytes',
       'the handler built from the -dev template runs in the packaged module');
}
