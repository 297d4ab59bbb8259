#!/usr/bin/env bash
# mirrorcap-archive.sh: the [archive] section of mirrorcap.toml from this instance's tags.
# Runs before each start of mirrorcap.service (ExecStartPre, as root). It reads, through IMDSv2
# (the instance needs InstanceMetadataTags=enabled, as ami/cloudformation.yaml sets when the
# stack has an archive):
#   mirrorcap:archive-url            s3://BUCKET/PREFIX   (no such tag: no archive)
#   mirrorcap:archive-required       true | false         (default false)
#   mirrorcap:archive-storage-class  e.g. STANDARD_IA     (optional)
#   mirrorcap:archive-kms-key        a KMS key ARN        (optional: SSE-KMS with that key)
# and placement/region, and keeps an [archive] section between two marker lines at the end of
# the configuration: written when the url tag is there, rewritten when a tag changed, removed
# when it is gone. The appliance id is left to mirrorcap (the instance ID, from IMDSv2).
# An [archive] section of the configuration's own (outside the markers) wins over the tags:
# the block is then removed. Nothing is changed when IMDS does not answer (not EC2).
# A tag mirrorcap would refuse (a url not s3://BUCKET/PREFIX, ...) fails the start, saying so.
# Overrides (tests): MIRRORCAP_IMDS (http://169.254.169.254),
#   MIRRORCAP_CONFIG (/etc/mirrorcap/mirrorcap.toml)
set -euo pipefail

IMDS=${MIRRORCAP_IMDS:-http://169.254.169.254}
CONFIG=${MIRRORCAP_CONFIG:-/etc/mirrorcap/mirrorcap.toml}
BEGIN="# BEGIN mirrorcap-archive.sh: from the instance's mirrorcap:archive-* tags; rewritten at each start, do not edit"
END="# END mirrorcap-archive.sh"

log() { echo "mirrorcap-archive: $*" >&2; }
die() {
    echo "mirrorcap-archive: $*" >&2
    exit 1
}

[[ -f $CONFIG ]] || die "no configuration at $CONFIG"

TOKEN=$(curl -fsS -m 5 -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 300' \
    "$IMDS/latest/api/token" 2>/dev/null) || {
    log "IMDSv2 does not answer at $IMDS (not EC2?): $CONFIG left as it is"
    exit 0
}
# imds PATH: the body on stdout; exit 0 (200), 4 (404: no such entry), 1 (any other failure).
imds() {
    local out code
    out=$(curl -sS -m 5 -w '\n%{http_code}' -H "X-aws-ec2-metadata-token: $TOKEN" \
        "$IMDS/latest/meta-data/$1") || return 1
    code=${out##*$'\n'}
    case $code in
    200) printf '%s' "${out%$'\n'*}" ;;
    404) return 4 ;;
    *) return 1 ;;
    esac
}

url="" required="" storage_class="" kms_key="" rc=0
keys=$(imds tags/instance) || rc=$?
case $rc in
0)
    tag() { if grep -qxF "$1" <<<"$keys"; then imds "tags/instance/$1"; fi; }
    url=$(tag mirrorcap:archive-url) || die "IMDS: cannot read the tag mirrorcap:archive-url"
    required=$(tag mirrorcap:archive-required) || die "IMDS: cannot read the tag mirrorcap:archive-required"
    storage_class=$(tag mirrorcap:archive-storage-class) || die "IMDS: cannot read the tag mirrorcap:archive-storage-class"
    kms_key=$(tag mirrorcap:archive-kms-key) || die "IMDS: cannot read the tag mirrorcap:archive-kms-key"
    ;;
4) ;; # tags not in the metadata (InstanceMetadataTags=disabled): no archive from tags
*)
    log "IMDS: cannot list the instance's tags: $CONFIG left as it is"
    exit 0
    ;;
esac

if [[ -z $url ]] && ! grep -qxF "$BEGIN" "$CONFIG"; then
    exit 0 # no archive, and none of ours to remove
fi
section=""
if [[ -n $url ]]; then
    # Every value goes into a TOML string: only characters that need no escaping get there.
    [[ $url =~ ^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/[A-Za-z0-9_.-]+)*/?$ ]] \
        || die "tag mirrorcap:archive-url='$url' is not s3://BUCKET/PREFIX"
    required=${required:-false}
    [[ $required == true || $required == false ]] \
        || die "tag mirrorcap:archive-required='$required' is not true or false"
    [[ -z $storage_class || $storage_class =~ ^[A-Z_]+$ ]] \
        || die "tag mirrorcap:archive-storage-class='$storage_class' is not an S3 storage class"
    [[ -z $kms_key || $kms_key =~ ^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:(key|alias)/[A-Za-z0-9/_-]+$ ]] \
        || die "tag mirrorcap:archive-kms-key='$kms_key' is not a KMS key ARN"
    region=$(imds placement/region) || die "IMDS: no placement/region"
    [[ $region =~ ^[a-z0-9-]+$ ]] || die "IMDS: placement/region='$region'"
    section="$BEGIN"$'\n'"[archive]"$'\n'"url = \"$url\""$'\n'"required = $required"$'\n'"region = \"$region\""
    [[ -z $storage_class ]] || section+=$'\n'"storage_class = \"$storage_class\""
    [[ -z $kms_key ]] || section+=$'\n'"sse_kms_key_id = \"$kms_key\""
    section+=$'\n'"$END"
fi

# The configuration without our block (and the blank line before it).
rest=$(awk -v b="$BEGIN" -v e="$END" '
    $0 == b { inside = 1; next }
    inside && $0 == e { inside = 0; next }
    inside { next }
    { lines[++n] = $0 }
    END { while (n > 0 && lines[n] == "") n--; for (i = 1; i <= n; i++) print lines[i] }
' "$CONFIG")
if grep -qE '^[[:space:]]*\[[[:space:]]*archive[[:space:]]*\]' <<<"$rest"; then
    # Ours goes (two [archive] tables would not parse); theirs stays.
    [[ -z $section ]] || log "$CONFIG has an [archive] section of its own: the mirrorcap:archive-* tags are ignored"
    section=""
    grep -qxF "$BEGIN" "$CONFIG" || exit 0
fi
if [[ -n $section ]]; then
    want="$rest"$'\n\n'"$section"$'\n'
else
    want="$rest"$'\n'
fi
if [[ $want == "$(<"$CONFIG")"$'\n' ]]; then
    exit 0
fi
tmp=$(mktemp "$CONFIG.XXXXXX")
trap 'rm -f "$tmp"' EXIT
printf '%s' "$want" >"$tmp"
chmod --reference="$CONFIG" "$tmp"
chown --reference="$CONFIG" "$tmp" 2>/dev/null || true
mv -f "$tmp" "$CONFIG"
trap - EXIT
if [[ -n $section ]]; then
    log "[archive] in $CONFIG: $url (required=$required, region $region${storage_class:+, $storage_class}${kms_key:+, SSE-KMS})"
elif [[ -z $url ]]; then
    log "no mirrorcap:archive-url tag: no [archive] from tags in $CONFIG"
fi
