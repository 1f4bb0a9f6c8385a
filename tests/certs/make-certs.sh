#!/usr/bin/env bash
# Makes the test CA and server certificates checked in beside this script. They protect nothing:
# the keys are public, and they are trusted only by tests that pass them with --cacert.
set -euo pipefail
cd "$(dirname "$0")"
days=36500
openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days "$days" \
  -subj "/CN=toucan-token test CA" -addext "basicConstraints=critical,CA:TRUE" \
  -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
make_leaf() {  # name, subjectAltName
  openssl req -newkey rsa:2048 -nodes -keyout "$1.key" -out "$1.csr" -subj "/CN=$1" 2>/dev/null
  openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -out "$1.pem" \
    -days "$days" -extfile <(printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth\n' "$2") 2>/dev/null
  rm -f "$1.csr"
}
make_leaf server "DNS:localhost,IP:127.0.0.1,IP:::1"
make_leaf wrong-host "DNS:wrong.example"
rm -f ca.srl
