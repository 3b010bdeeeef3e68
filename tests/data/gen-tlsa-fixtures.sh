#!/bin/sh
# gen-tlsa-fixtures.sh - create the TLSA test fixtures with the openssl CLI (STYLE.md section 9).
#
# Usage: tests/data/gen-tlsa-fixtures.sh DIR      (the checked-in copy lives in tests/data/tlsa/)
#
# Writes into DIR:
#   rsa.key rsa.crt rsa.der rsa.pub.pem rsa.spki.der   RSA-2048 key, self-signed cert (PEM, DER),
#                                                      public key (PEM, DER SPKI)
#   ec.key  ec.crt  ec.der  ec.pub.pem  ec.spki.der    the same for ECDSA P-256
#   ca.key ca.crt leaf.key leaf.crt chain.pem          a CA and a leaf it signed; chain = leaf + CA
#   rsa-enc.key                                        rsa.key encrypted (passphrase "test")
#   expected.txt                                       "<cert> <u> <s> <m> <hex>" per line
#
# Expected values are computed here, independently of daneguard: selector 0 is the DER
# certificate (openssl x509 -outform DER), selector 1 the DER SubjectPublicKeyInfo
# (openssl x509 -pubkey | openssl pkey -pubin -outform DER); matching type 0 is that DER as hex,
# 1 its sha256sum, 2 its sha512sum. The keys are for tests only.
set -eu

dir=${1:?usage: $0 DIR}
mkdir -p "$dir"
cd "$dir"

hex() { od -An -v -tx1 | tr -d ' \n'; }
sum256() { sha256sum | cut -d' ' -f1; }
sum512() { sha512sum | cut -d' ' -f1; }

selfsigned() { # name keyopts... -> name.key name.crt
	name=$1; shift
	openssl genpkey -quiet "$@" -out "$name.key" 2>/dev/null || openssl genpkey "$@" -out "$name.key"
	openssl req -x509 -new -key "$name.key" -subj "/CN=mx.$name.example.net" -days 36500 \
		-sha256 -out "$name.crt"
	openssl x509 -in "$name.crt" -outform DER -out "$name.der"
	openssl x509 -in "$name.crt" -pubkey -noout > "$name.pub.pem"
	openssl pkey -pubin -in "$name.pub.pem" -outform DER -out "$name.spki.der"
}

expect() { # name usage -> lines of expected.txt for u 0/1 0/1/2
	name=$1; u=$2
	cert_der() { openssl x509 -in "$name.crt" -outform DER; }
	spki_der() { openssl x509 -in "$name.crt" -pubkey -noout | openssl pkey -pubin -outform DER; }
	echo "$name $u 0 0 $(cert_der | hex)"
	echo "$name $u 0 1 $(cert_der | sum256)"
	echo "$name $u 0 2 $(cert_der | sum512)"
	echo "$name $u 1 0 $(spki_der | hex)"
	echo "$name $u 1 1 $(spki_der | sum256)"
	echo "$name $u 1 2 $(spki_der | sum512)"
}

selfsigned rsa -algorithm RSA -pkeyopt rsa_keygen_bits:2048
selfsigned ec -algorithm EC -pkeyopt ec_paramgen_curve:P-256

# A CA and a leaf it issued, for DANE-TA (2 x x) and chain tests.
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ca.key
openssl req -x509 -new -key ca.key -subj "/CN=daneguard test CA" -days 36500 -sha256 \
	-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
	-out ca.crt
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out leaf.key
openssl req -new -key leaf.key -subj "/CN=mx.leaf.example.net" -out leaf.csr
printf 'subjectAltName=DNS:mx.leaf.example.net\nbasicConstraints=CA:FALSE\n' > leaf.ext
openssl x509 -req -in leaf.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 36500 -sha256 \
	-extfile leaf.ext -out leaf.crt
rm -f leaf.csr leaf.ext ca.srl
cat leaf.crt ca.crt > chain.pem

openssl pkey -in rsa.key -aes256 -passout pass:test -out rsa-enc.key

{
	expect rsa 3
	expect ec 3
	expect leaf 3
	expect ca 2
} > expected.txt
echo "wrote $(wc -l < expected.txt) expected values to $dir/expected.txt"
