#!/bin/sh
# gen-dane-fixtures.sh - create the DANE verification fixtures with the openssl CLI
# (STYLE.md section 9; used by tests/unit/test_dane.c).
#
# Usage: tests/data/gen-dane-fixtures.sh DIR      (the checked-in copy lives in tests/data/dane/)
#
# Every certificate is issued by `openssl ca` with fixed -startdate/-enddate, so the tests can
# verify at a fixed reference time and never rot:
#
#   reference time T0 = 2025-06-01T00:00:00Z = 1748736000 (test_dane.c uses the same constant)
#   T0 + 400 days     = 2026-07-06, after every leaf's notAfter, before the CAs' notAfter
#
# Writes into DIR (keys are for tests only):
#   root.key root.crt       "daneguard DANE test root", EC P-256, CA, 2020-01-01 .. 2045-01-01
#   inter.key inter.crt     "daneguard DANE test intermediate", issued by root, same validity
#   fake-inter.key .crt     same subject as inter, other key, no subjectKeyIdentifier, issued by
#                           root: leaf-mx1's signature does not verify with it (bad signature)
#   leaf-mx1.*              issued by inter, SAN DNS:mx1.example.test, 2025-01-01 .. 2026-01-01
#   leaf-domain.*           as leaf-mx1 with SAN DNS:example.test (a next-hop domain)
#   leaf-wild.*             as leaf-mx1 with SAN DNS:*.wild.test
#   leaf-partial.*          as leaf-mx1 with SAN DNS:mx*.partial.test (partial wildcard)
#   leaf-unrelated.*        as leaf-mx1 with SAN DNS:unrelated.example
#   leaf-expired.*          as leaf-mx1 (SAN DNS:mx1.example.test), 2020-01-01 .. 2021-01-01
#   ee-ec.*                 self-signed EC P-256, CN/SAN mx.ec.example.test, 2025 .. 2026
#   ee-rsa.*                self-signed RSA 2048, CN/SAN mx.rsa.example.test, 2025 .. 2026
#   ee-expired.*            self-signed EC P-256, CN/SAN expired.nomatch.test, 2020 .. 2021
#   expected.txt            "<cert> <selector> <mtype> <hex>" for selector 0/1 x mtype 0/1/2
#   info.txt                "<cert> <field> <value>" for ee-rsa and leaf-mx1 (openssl CLI output)
#
# Selector 0 is the DER certificate (openssl x509 -outform DER), selector 1 the DER
# SubjectPublicKeyInfo (openssl x509 -pubkey | openssl pkey -pubin -outform DER); matching type
# 0 is that DER as hex, 1 its sha256sum, 2 its sha512sum: computed here, independently of
# daneguard.
set -eu

dir=${1:?usage: $0 DIR}
mkdir -p "$dir"
cd "$dir"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

LEAF_START=20250101000000Z
LEAF_END=20260101000000Z
OLD_START=20200101000000Z
OLD_END=20210101000000Z
CA_START=20200101000000Z
CA_END=20450101000000Z

hex() { od -An -v -tx1 | tr -d ' \n'; }
sum256() { sha256sum | cut -d' ' -f1; }
sum512() { sha512sum | cut -d' ' -f1; }

# A minimal `openssl ca` setup: throwaway database, serials, all DN fields taken from the CSR.
cat > "$work/ca.cnf" <<EOF
[ca]
default_ca = dgca
[dgca]
dir = $work
database = $work/index.txt
new_certs_dir = $work
serial = $work/serial
default_md = sha256
policy = policy_any
unique_subject = no
email_in_dn = no
[policy_any]
commonName = supplied
[v3_ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[v3_ca_noski]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = none
authorityKeyIdentifier = none
[v3_ee]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EOF
: > "$work/index.txt"
echo 1000 > "$work/serial"

genkey() { # name alg -> name.key
	case $2 in
	ec) openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1.key" ;;
	rsa) openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$1.key" 2>/dev/null ;;
	esac
}

# issue name cn san issuer|self ext start end
issue() {
	name=$1 cn=$2 san=$3 issuer=$4 ext=$5 start=$6 end=$7
	extfile=$work/$name.ext
	sed -n "/^\[$ext\]/,/^\[/p" "$work/ca.cnf" | sed '1d;/^\[/d' > "$extfile"
	if [ -n "$san" ]; then
		echo "subjectAltName = $san" >> "$extfile"
	fi
	openssl req -new -key "$name.key" -subj "/CN=$cn" -out "$work/$name.csr"
	if [ "$issuer" = self ]; then
		set -- -selfsign -keyfile "$name.key"
	else
		set -- -cert "$issuer.crt" -keyfile "$issuer.key"
	fi
	openssl ca -batch -notext -config "$work/ca.cnf" "$@" -in "$work/$name.csr" \
		-out "$name.crt" -startdate "$start" -enddate "$end" -preserveDN \
		-extfile "$extfile" 2>/dev/null
}

genkey root ec
issue root "daneguard DANE test root" "" self v3_ca "$CA_START" "$CA_END"
genkey inter ec
issue inter "daneguard DANE test intermediate" "" root v3_ca "$CA_START" "$CA_END"
genkey fake-inter ec
issue fake-inter "daneguard DANE test intermediate" "" root v3_ca_noski "$CA_START" "$CA_END"

for spec in mx1:mx1.example.test domain:example.test 'wild:*.wild.test' \
	'partial:mx*.partial.test' unrelated:unrelated.example; do
	n=${spec%%:*} dns=${spec#*:}
	genkey "leaf-$n" ec
	issue "leaf-$n" "$dns" "DNS:$dns" inter v3_ee "$LEAF_START" "$LEAF_END"
done
genkey leaf-expired ec
issue leaf-expired mx1.example.test DNS:mx1.example.test inter v3_ee "$OLD_START" "$OLD_END"

genkey ee-ec ec
issue ee-ec mx.ec.example.test DNS:mx.ec.example.test self v3_ee "$LEAF_START" "$LEAF_END"
genkey ee-rsa rsa
issue ee-rsa mx.rsa.example.test DNS:mx.rsa.example.test self v3_ee "$LEAF_START" "$LEAF_END"
genkey ee-expired ec
issue ee-expired expired.nomatch.test DNS:expired.nomatch.test self v3_ee "$OLD_START" "$OLD_END"

certs="root inter fake-inter leaf-mx1 leaf-domain leaf-wild leaf-partial leaf-unrelated leaf-expired
	ee-ec ee-rsa ee-expired"

cert_der() { openssl x509 -in "$1.crt" -outform DER; }
spki_der() { openssl x509 -in "$1.crt" -pubkey -noout | openssl pkey -pubin -outform DER; }

for c in $certs; do
	echo "$c 0 0 $(cert_der "$c" | hex)"
	echo "$c 0 1 $(cert_der "$c" | sum256)"
	echo "$c 0 2 $(cert_der "$c" | sum512)"
	echo "$c 1 0 $(spki_der "$c" | hex)"
	echo "$c 1 1 $(spki_der "$c" | sum256)"
	echo "$c 1 2 $(spki_der "$c" | sum512)"
done > expected.txt

epoch() { date -u -d "$(openssl x509 -in "$1.crt" -noout "-$2" | cut -d= -f2)" +%s; }

for c in ee-rsa leaf-mx1; do
	echo "$c spki_sha256 $(spki_der "$c" | sum256)"
	echo "$c cert_sha256 $(openssl x509 -in "$c.crt" -noout -fingerprint -sha256 |
		cut -d= -f2 | tr -d ':' | tr 'A-F' 'a-f')"
	echo "$c not_before $(epoch "$c" startdate)"
	echo "$c not_after $(epoch "$c" enddate)"
	echo "$c subject $(openssl x509 -in "$c.crt" -noout -subject -nameopt RFC2253 |
		sed 's/^subject=//')"
	echo "$c issuer $(openssl x509 -in "$c.crt" -noout -issuer -nameopt RFC2253 |
		sed 's/^issuer=//')"
done > info.txt

echo "wrote $(wc -l < expected.txt) expected values and $(wc -l < info.txt) info lines to $dir"
