#!/usr/bin/env perl
# Example Perl plugin for the SCHEDULER role (run by the perl runner module,
# plughost-runner-perl.so): a one-shot report of the configuration it was given.
use strict;
use warnings;
use JSON::PP;

$| = 1;
my $config = decode_json($ENV{LMCACHE_RUNTIME_PLUGIN_CONFIG} // '{}');
my $extra = $config->{extra_config} // {};
printf "perl report: %d runtime plugin location(s), extra_config keys: %s\n",
  scalar @{ $config->{runtime_plugin_locations} // [] }, join(', ', sort keys %$extra);
