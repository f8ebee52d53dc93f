#!/bin/sh
# redis-server without a config file binds every interface but, in protected mode, refuses clients
# from other hosts when no password is set: on compose's private network turn it off, as the
# official image does. Any other command runs as given.
set -e
if [ "$1" = "redis-server" ]; then
  shift
  set -- redis-server --protected-mode no "$@"
fi
exec "$@"
