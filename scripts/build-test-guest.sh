#!/bin/sh
# Build the small test guest that the local provider's `vm` resource boots in tests,
# in the benchmarks and in the docs walkthrough. Nothing is downloaded but Debian packages:
#
#   vmlinuz         the Debian distribution kernel (from the linux-image-*-amd64 package
#                   that linux-image-amd64 depends on; extracted with dpkg-deb, never installed)
#   initrd.cpio.gz  busybox-static, the kernel modules for virtio networking, virtio disks
#                   and fw_cfg (with their dependencies, loaded in order), and an /init that
#                   brings up eth0 (QEMU user networking: 10.0.2.15/24, gateway 10.0.2.2),
#                   runs the first-boot user_data script when QEMU hands one over through
#                   fw_cfg (opt/plinth/user-data), and serves HTTP on port 80 with busybox
#                   httpd: / (a page), /healthz, /disks.txt (the first bytes of each data disk)
#
# Usage: scripts/build-test-guest.sh [CACHE_DIR]     (default .cache/guest)
# Prints the cache directory. Idempotent: returns at once when the guest is already built.
# Installs what it needs with apt-get when it is missing (CI machines are fresh and root).
set -eu

CACHE_DIR=${1:-${PLINTH_GUEST_DIR:-.cache/guest}}
GUEST_VERSION=4 # bump when the initramfs layout or /init changes
MODULES="qemu_fw_cfg virtio_pci virtio_net virtio_blk"

mkdir -p "$CACHE_DIR"
CACHE_DIR=$(cd "$CACHE_DIR" && pwd)
if [ -f "$CACHE_DIR/vmlinuz" ] && [ -f "$CACHE_DIR/initrd.cpio.gz" ] &&
    [ "$(cat "$CACHE_DIR/version" 2>/dev/null)" = "$GUEST_VERSION" ]; then
    echo "$CACHE_DIR"
    exit 0
fi

need() { # need COMMAND PACKAGE: install PACKAGE when COMMAND is missing
    if ! command -v "$1" >/dev/null 2>&1 && [ ! -x "$1" ]; then
        echo "installing $2 (for $1)" >&2
        apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >&2
    fi
}
if ! dpkg-query -W -f '${Status}' busybox-static 2>/dev/null | grep -q "ok installed"; then
    echo "installing busybox-static" >&2
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq busybox-static >&2
fi
need gzip gzip

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT INT TERM

KPKG=$(apt-cache depends linux-image-amd64 2>/dev/null |
    sed -n 's/^ *Depends: \(linux-image-[0-9].*-amd64\)$/\1/p' | head -n 1)
if [ -z "$KPKG" ]; then
    apt-get update -qq >&2
    KPKG=$(apt-cache depends linux-image-amd64 |
        sed -n 's/^ *Depends: \(linux-image-[0-9].*-amd64\)$/\1/p' | head -n 1)
fi
[ -n "$KPKG" ] || { echo "cannot find the kernel package linux-image-amd64 depends on" >&2; exit 1; }
echo "downloading $KPKG" >&2
(cd "$WORK" && apt-get download -qq "$KPKG" >&2 2>/dev/null) ||
    (cd "$WORK" && apt-get update -qq >&2 && apt-get download -qq "$KPKG" >&2)
dpkg-deb -x "$WORK"/"$KPKG"_*.deb "$WORK/pkg"
MODDIR=$(ls -d "$WORK"/pkg/lib/modules/* | head -n 1)

ROOT="$WORK/root"
mkdir -p "$ROOT/bin" "$ROOT/sbin" "$ROOT/etc" "$ROOT/proc" "$ROOT/sys" "$ROOT/dev" \
    "$ROOT/tmp" "$ROOT/www" "$ROOT/lib/modules" "$ROOT/run"
cp /bin/busybox "$ROOT/bin/busybox"
for tool in sh mount umount insmod ip ifconfig route httpd cat echo mkdir sleep ls \
    head tr dd sync poweroff reboot hostname date uname grep sed wc chmod ln cp rm; do
    ln -sf busybox "$ROOT/bin/$tool"
done

# Resolve each module's dependencies (the "depends=" field of its .modinfo section) and
# write them in load order (dependencies first) to lib/modules/order.
: >"$WORK/order"
add_module() ( # a subshell: the recursion must not clobber the caller's variables
    name=$1
    grep -qx "$name" "$WORK/order" && return 0
    file=$(find "$MODDIR" -name "$name.ko" -o -name "$name.ko.xz" | head -n 1)
    [ -n "$file" ] || { echo "module $name not found in $KPKG" >&2; exit 1; }
    deps=$(grep -a -o 'depends=[^[:cntrl:]]*' "$file" | head -n 1 | sed 's/^depends=//; s/,/ /g')
    for dep in $deps; do add_module "$dep"; done
    case "$file" in
    *.xz) need xz xz-utils && xz -dc "$file" >"$ROOT/lib/modules/$name.ko" ;;
    *) cp "$file" "$ROOT/lib/modules/$name.ko" ;;
    esac
    echo "$name" >>"$WORK/order"
)
for module in $MODULES; do add_module "$module"; done
cp "$WORK/order" "$ROOT/lib/modules/order"

cat >"$ROOT/init" <<'EOF'
#!/bin/sh
# Plinth test guest: network up, first-boot user_data, HTTP on port 80.
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mount -t tmpfs tmpfs /tmp
for module in $(cat /lib/modules/order); do insmod "/lib/modules/$module.ko" 2>/dev/null; done
hostname plinth-guest
ip link set lo up
i=0
while [ ! -e /sys/class/net/eth0 ] && [ "$i" -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
ip addr add 10.0.2.15/24 dev eth0
ip link set eth0 up
ip route add default via 10.0.2.2
echo "nameserver 10.0.2.3" >/etc/resolv.conf
echo "plinth-guest: eth0 up at 10.0.2.15"
echo "<html><body><h1>plinth test guest</h1><p>kernel $(uname -r)</p></body></html>" \
    >/www/index.html
echo ok >/www/healthz
: >/www/disks.txt
for disk in /sys/block/vd*; do
    [ -e "$disk" ] || continue
    name=${disk##*/}
    echo "$name: $(head -c 64 "/dev/$name" | tr -d '\000\n')" >>/www/disks.txt
done
USER_DATA=/sys/firmware/qemu_fw_cfg/by_name/opt/plinth/user-data/raw
if [ -r "$USER_DATA" ]; then
    cat "$USER_DATA" >/tmp/user-data
    chmod 700 /tmp/user-data
    echo "plinth-guest: running user_data"
    /bin/sh /tmp/user-data >/tmp/user-data.log 2>&1
    echo "plinth-guest: user_data exited with $?"
fi
httpd -p 80 -h /www
echo "plinth-guest: httpd serving on port 80"
while true; do sleep 3600; done
EOF
chmod 755 "$ROOT/init"

(cd "$ROOT" && find . | busybox cpio -o -H newc 2>/dev/null | gzip -9) >"$WORK/initrd.cpio.gz"
cp "$(ls "$WORK"/pkg/boot/vmlinuz-* | head -n 1)" "$WORK/vmlinuz"
mv -f "$WORK/vmlinuz" "$CACHE_DIR/vmlinuz"
mv -f "$WORK/initrd.cpio.gz" "$CACHE_DIR/initrd.cpio.gz"
echo "$KPKG" >"$CACHE_DIR/kernel-package"
echo "$GUEST_VERSION" >"$CACHE_DIR/version"
echo "$CACHE_DIR"
