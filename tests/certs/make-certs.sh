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
# Certificates outside their validity period, for the expired / not-yet-valid messages.
make_dated_leaf() {  # name, start, end (YYYYMMDDHHMMSSZ)
  local dir
  dir=$(mktemp -d)
  touch "$dir/index.txt"
  printf '[ca]\ndefault_ca=d\n[d]\ndatabase=%s/index.txt\nnew_certs_dir=%s\nserial=%s/serial\ndefault_md=sha256\npolicy=p\ncopy_extensions=none\n[p]\ncommonName=supplied\n[ext]\nsubjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' \
    "$dir" "$dir" "$dir" >"$dir/ca.cnf"
  echo 1000 >"$dir/serial"
  openssl req -newkey rsa:2048 -nodes -keyout "$1.key" -out "$dir/$1.csr" -subj "/CN=$1" 2>/dev/null
  openssl ca -batch -config "$dir/ca.cnf" -cert ca.pem -keyfile ca.key -in "$dir/$1.csr" \
    -out "$1.pem" -startdate "$2" -enddate "$3" -extensions ext -notext 2>/dev/null
  rm -rf "$dir"
}
make_dated_leaf expired 20200101000000Z 20210101000000Z
make_dated_leaf not-yet-valid 21000101000000Z 21010101000000Z
