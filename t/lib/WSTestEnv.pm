package WSTestEnv;

# What the tests need to know about how the suite's server runs, from the
# environment t/TEST.PL sets:
#
#   time_factor()   WS_TEST_TIME_FACTOR (default 1): every bounded wait of
#                   the test libraries and clients is multiplied by it.
#                   `make test-valgrind` sets it (the server runs 10-50x
#                   slower under valgrind); `make test` leaves it at 1.
#   scaled($s)      $s seconds times that factor
#   one_process()   true when the suite's server is one process (httpd -X,
#                   Apache::Test's -one-process; WS_TEST_ONE_PROCESS): it
#                   has no children, cannot restart gracefully, and the
#                   parent itself serves every connection
#   valgrind()      true when it runs under valgrind (WS_VALGRIND_DIR): its
#                   RSS then includes valgrind's shadow memory and its CPU
#                   time valgrind's, so memory and CPU bounds mean nothing
#   server_pids($parent)
#                   the pids that serve connections: the children of
#                   $parent, or $parent itself when one_process()

use strict;
use warnings;

sub time_factor {
    my $f = $ENV{WS_TEST_TIME_FACTOR};
    return (defined $f && $f =~ /^\d+(?:\.\d+)?$/ && $f >= 1) ? $f : 1;
}

sub scaled { return $_[0] * time_factor() }

sub one_process { return $ENV{WS_TEST_ONE_PROCESS} ? 1 : 0 }

sub valgrind { return $ENV{WS_VALGRIND_DIR} ? 1 : 0 }

sub server_pids {
    my ($parent) = @_;
    return ($parent) if one_process() && kill(0, $parent);
    opendir my $d, '/proc' or return ();
    my @p;
    for my $pid (grep { /^\d+$/ } readdir $d) {
        open my $st, '<', "/proc/$pid/stat" or next;
        my $l = <$st> // next;
        my ($ppid) = $l =~ /^\d+ \(.*\) \S (\d+)/ or next;
        push @p, $pid if $ppid == $parent;
    }
    return @p;
}

1;
