//! The boot-time decisions of the AMI, against a fake machine in a temporary directory:
//! `ami/mirrorcap-bind.sh` (which ENI, which driver, write-combining) over a fake sysfs tree and
//! a fake IMDSv2 (`tests/ami/fake_imds.py`: token required), with modprobe/modinfo/ip/aws
//! replaced by scripts that log their arguments; `ami/mirrorcap-tune.sh` (hugepage size,
//! isolated cores, one reboot) over a fake /proc; and `ami/mirrorcap-storage.sh` (the ring on a
//! tmpfs; the store on the instance store or EBS) over fake NVMe controllers.
use std::fs;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

const PRIMARY_MAC: &str = "0a:00:00:00:00:05";
const DATA_MAC: &str = "0a:00:00:00:00:06";
const DATA_PCI: &str = "0000:00:06.0";
const BAR2: &str = "0x00000000febf0000";

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("ami").join(name)
}

fn write(path: &Path, text: &str) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
}

fn exe(path: &Path, body: &str) {
    write(path, &format!("#!/bin/sh\n{body}\n"));
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
}

/// A fake instance: two ENA ENIs (the primary at device index 0, the data ENI at 1), both
/// bound to the kernel's ena driver, no IOMMU, BAR 2 write-combining capable.
struct Fake {
    dir: tempfile::TempDir,
    imds: Child,
    port: u16,
}

impl Drop for Fake {
    fn drop(&mut self) {
        let _ = self.imds.kill();
        let _ = self.imds.wait();
    }
}

impl Fake {
    fn new() -> Fake {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let sys = d.join("sys");
        for (iface, mac, pci) in [
            ("ens5", PRIMARY_MAC, "0000:00:05.0"),
            ("ens6", DATA_MAC, DATA_PCI),
        ] {
            let dev = sys.join("bus/pci/devices").join(pci);
            write(
                &dev.join("resource"),
                &format!(
                    "0x00000000febf8000 0x00000000febfbfff 0x0000000000040200\n\
                     0x0000000000000000 0x0000000000000000 0x0000000000000000\n\
                     {BAR2} 0x00000000febfffff 0x000000000014220c\n"
                ),
            );
            write(&dev.join("driver_override"), "(null)\n");
            write(&dev.join("resource2_wc"), "");
            symlink(sys.join("bus/pci/drivers/ena"), dev.join("driver")).unwrap();
            let net = sys.join("class/net").join(iface);
            write(&net.join("address"), &format!("{mac}\n"));
            symlink(&dev, net.join("device")).unwrap();
        }
        for drv in ["ena", "uio_pci_generic", "vfio-pci"] {
            fs::create_dir_all(sys.join("bus/pci/drivers").join(drv)).unwrap();
        }
        fs::create_dir_all(sys.join("kernel/iommu_groups")).unwrap();
        write(
            &sys.join("module/vfio/parameters/enable_unsafe_noiommu_mode"),
            "N\n",
        );

        let md = d.join("imds");
        write(&md.join("mac"), PRIMARY_MAC);
        write(&md.join("instance-id"), "i-0123456789abcdef0");
        write(&md.join("placement/region"), "eu-west-1");
        for (mac, idx, eni) in [
            (PRIMARY_MAC, "0", "eni-0primary"),
            (DATA_MAC, "1", "eni-0data"),
        ] {
            let m = md.join("network/interfaces/macs").join(mac);
            write(&m.join("device-number"), idx);
            write(&m.join("interface-id"), eni);
        }

        let bin = d.join("bin");
        let log = d.join("commands.log");
        let log = log.display();
        exe(
            &bin.join("modprobe"),
            &format!("echo \"modprobe $*\" >>{log}"),
        );
        exe(&bin.join("ip"), &format!("echo \"ip $*\" >>{log}"));
        exe(
            &bin.join("aws"),
            &format!("echo \"aws $*\" >>{log}\necho \"${{FAKE_AWS_MAC:-}}\""),
        );
        // Knows the modules listed in FAKE_MODULES.
        exe(
            &bin.join("modinfo"),
            "case \" $FAKE_MODULES \" in *\" $1 \"*) echo \"filename: /lib/modules/$1.ko\";; *) echo \"modinfo: ERROR: Module $1 not found.\" >&2; exit 1;; esac",
        );

        let mut imds = Command::new("python3")
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ami/fake_imds.py"))
            .arg(&md)
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 for the fake IMDS");
        let mut line = String::new();
        BufReader::new(imds.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line.trim().parse().expect("fake IMDS port");
        Fake { dir, imds, port }
    }

    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    fn read(&self, p: &str) -> String {
        fs::read_to_string(self.path(p)).unwrap_or_default()
    }

    /// Runs mirrorcap-bind.sh ARG with DPDK `dpdk`, the kernel modules `modules`, 4 vCPUs and
    /// the extra environment.
    fn bind(&self, arg: &str, dpdk: &str, modules: &str, env: &[(&str, &str)]) -> Output {
        let mut c = Command::new("bash");
        c.arg(script("mirrorcap-bind.sh")).arg(arg);
        c.env_remove("DATA_ENI_MAC")
            .env_remove("DATA_ENI_TAG")
            .env_remove("DATA_ENI_DEVICE_INDEX")
            .env_remove("DRIVER");
        let bin = self.path("bin");
        c.env("MIRRORCAP_SYSFS", self.path("sys"))
            .env("MIRRORCAP_IMDS", format!("http://127.0.0.1:{}", self.port))
            .env("MIRRORCAP_RUN_DIR", self.path("run"))
            .env("MIRRORCAP_CONF", self.path("bind.conf"))
            .env("MIRRORCAP_DPDK_VERSION", dpdk)
            .env("MIRRORCAP_NPROC", "4")
            .env("MIRRORCAP_MODPROBE", bin.join("modprobe"))
            .env("MIRRORCAP_MODINFO", bin.join("modinfo"))
            .env("MIRRORCAP_IP", bin.join("ip"))
            .env("MIRRORCAP_AWS", bin.join("aws"))
            .env("MIRRORCAP_VERIFY_BIND", "0")
            .env("FAKE_MODULES", modules);
        for (k, v) in env {
            c.env(k, v);
        }
        c.output().expect("bash")
    }
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

const BOTH: &str = "uio_pci_generic vfio-pci";

#[test]
fn binds_the_device_index_1_eni_to_uio_pci_generic_with_dpdk_2411() {
    let f = Fake::new();
    let o = f.bind("bind", "24.11.3", BOTH, &[]);
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert!(
        t.contains(&format!(
            "data ENI eni-0data mac {DATA_MAC} (by device index 1, device index 1) at PCI {DATA_PCI}, interface ens6, driver now ena"
        )),
        "{t}"
    );
    assert!(
        t.contains("driver uio_pci_generic (DPDK 24.11.3 >= 24.03"),
        "{t}"
    );
    assert!(t.contains("write-combining expected: yes"), "{t}");
    // The kernel is asked to hand over the data ENI, and only it.
    let dev = format!("sys/bus/pci/devices/{DATA_PCI}");
    assert_eq!(
        f.read(&format!("{dev}/driver_override")).trim(),
        "uio_pci_generic"
    );
    assert_eq!(f.read("sys/bus/pci/drivers/ena/unbind").trim(), DATA_PCI);
    assert_eq!(
        f.read("sys/bus/pci/drivers/uio_pci_generic/bind").trim(),
        DATA_PCI
    );
    assert_eq!(
        f.read("sys/bus/pci/devices/0000:00:05.0/driver_override")
            .trim(),
        "(null)"
    );
    let cmds = f.read("commands.log");
    assert_eq!(
        cmds, "ip link set dev ens6 down\nmodprobe uio_pci_generic\n",
        "{t}"
    );
    let env = f.read("run/data-eni.env");
    for l in [
        "MIRRORCAP_DATA_ENI=eni-0data",
        &format!("MIRRORCAP_DATA_PCI={DATA_PCI}"),
        "MIRRORCAP_DATA_DRIVER=uio_pci_generic",
        "MIRRORCAP_WORKERS=3",
        "MIRRORCAP_LCORES=0@0,1@1,2@2,3@3",
    ] {
        assert!(env.lines().any(|x| x == l), "{l} not in:\n{env}");
    }
    // IMDSv2: a token first, then only GETs (the fake refuses GETs without the token).
    let imds = f.read("imds.log");
    assert!(imds.starts_with("PUT /latest/api/token\n"), "{imds}");
    assert_eq!(imds.matches("PUT").count(), 1, "{imds}");
}

#[test]
fn falls_back_to_vfio_pci_in_no_iommu_mode_before_dpdk_2403() {
    let f = Fake::new();
    let o = f.bind("bind", "22.11.4", BOTH, &[]);
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert!(t.contains("driver vfio-pci (DPDK 22.11.4 < 24.03"), "{t}");
    assert!(t.contains("no-IOMMU mode"), "{t}");
    assert!(t.contains("write-combining expected: unknown"), "{t}");
    assert_eq!(
        f.read("commands.log"),
        "ip link set dev ens6 down\nmodprobe vfio enable_unsafe_noiommu_mode=1\nmodprobe vfio-pci\n"
    );
    assert_eq!(
        f.read("sys/module/vfio/parameters/enable_unsafe_noiommu_mode")
            .trim(),
        "1"
    );
    assert_eq!(f.read("sys/bus/pci/drivers/vfio-pci/bind").trim(), DATA_PCI);
}

#[test]
fn uses_vfio_pci_when_the_kernel_has_no_uio_pci_generic() {
    let f = Fake::new();
    let t = text(&f.bind("decide", "24.11.3", "vfio-pci", &[]));
    assert!(t.contains("driver vfio-pci"), "{t}");
    // decide changes nothing.
    assert_eq!(f.read("commands.log"), "");
    assert_eq!(f.read("sys/bus/pci/drivers/ena/unbind"), "");
}

#[test]
fn with_an_iommu_vfio_pci_is_not_put_in_no_iommu_mode() {
    let f = Fake::new();
    fs::create_dir_all(f.path("sys/kernel/iommu_groups/0")).unwrap();
    let o = f.bind("bind", "24.11.3", BOTH, &[("DRIVER", "vfio-pci")]);
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert!(!t.contains("no-IOMMU"), "{t}");
    assert_eq!(
        f.read("commands.log"),
        "ip link set dev ens6 down\nmodprobe vfio-pci\n"
    );
}

#[test]
fn warns_when_bar_2_cannot_be_write_combining() {
    let f = Fake::new();
    fs::remove_file(f.path(&format!("sys/bus/pci/devices/{DATA_PCI}/resource2_wc"))).unwrap();
    let t = text(&f.bind("decide", "24.11.3", BOTH, &[]));
    assert!(
        t.contains("WARNING: 0000:00:06.0 has no resource2_wc"),
        "{t}"
    );
    assert!(t.contains("write-combining expected: no"), "{t}");
}

#[test]
fn the_config_file_chooses_the_eni_by_mac_and_the_driver() {
    let f = Fake::new();
    write(
        &f.path("bind.conf"),
        &format!(
            "DATA_ENI_DEVICE_INDEX=7\nDATA_ENI_MAC={}\nDRIVER=vfio-pci\n",
            DATA_MAC.to_uppercase()
        ),
    );
    let o = f.bind("decide", "24.11.3", BOTH, &[]);
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert!(t.contains("(by DATA_ENI_MAC, device index 1)"), "{t}");
    assert!(t.contains("driver vfio-pci (DRIVER=vfio-pci"), "{t}");
}

#[test]
fn finds_the_eni_by_tag_through_the_aws_cli() {
    let f = Fake::new();
    let o = f.bind(
        "decide",
        "24.11.3",
        BOTH,
        &[
            ("DATA_ENI_TAG", "mirrorcap:role=data"),
            ("FAKE_AWS_MAC", DATA_MAC),
        ],
    );
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert!(t.contains("(by DATA_ENI_TAG=mirrorcap:role=data"), "{t}");
    let aws = f.read("commands.log");
    assert!(aws.contains("--region eu-west-1"), "{aws}");
    assert!(
        aws.contains("Name=attachment.instance-id,Values=i-0123456789abcdef0 Name=tag:mirrorcap:role,Values=data"),
        "{aws}"
    );
}

#[test]
fn refuses_the_primary_eni_and_a_missing_one() {
    let f = Fake::new();
    for (env, want) in [
        (
            ("DATA_ENI_MAC", PRIMARY_MAC),
            "refusing: 0a:00:00:00:00:05 is the primary (management) ENI",
        ),
        (
            ("DATA_ENI_DEVICE_INDEX", "0"),
            "refusing: 0a:00:00:00:00:05 is the primary (management) ENI",
        ),
        (("DATA_ENI_DEVICE_INDEX", "2"), "no ENI at device index 2"),
        (
            ("DATA_ENI_MAC", "0a:00:00:00:00:99"),
            "DATA_ENI_MAC=0a:00:00:00:00:99 is not attached",
        ),
    ] {
        let o = f.bind("bind", "24.11.3", BOTH, &[env]);
        let t = text(&o);
        assert!(!o.status.success(), "{env:?}: {t}");
        assert!(t.contains(want), "{env:?}: {t}");
    }
    assert_eq!(f.read("commands.log"), "");
    assert_eq!(f.read("sys/bus/pci/drivers/ena/unbind"), "");
    assert!(!f.path("run/data-eni.env").exists());
}

#[test]
fn a_restart_finds_the_eni_it_already_bound() {
    let f = Fake::new();
    assert!(f.bind("bind", "24.11.3", BOTH, &[]).status.success());
    // What the kernel did: the netdev is gone, the device is on uio_pci_generic.
    fs::remove_dir_all(f.path("sys/class/net/ens6")).unwrap();
    let drv = f.path(&format!("sys/bus/pci/devices/{DATA_PCI}/driver"));
    fs::remove_file(&drv).unwrap();
    symlink(f.path("sys/bus/pci/drivers/uio_pci_generic"), &drv).unwrap();
    fs::write(f.path("commands.log"), "").unwrap();
    let o = f.bind("bind", "24.11.3", BOTH, &[]);
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert!(t.contains("already bound to uio_pci_generic"), "{t}");
    assert_eq!(f.read("commands.log"), "");
}

#[test]
fn check_wc_reads_the_pat_list_for_bar_2() {
    let f = Fake::new();
    assert!(f.bind("bind", "24.11.3", BOTH, &[]).status.success());
    let pat = f.path("sys/kernel/debug/x86/pat_memtype_list");
    for (list, active) in [
        (format!("PAT memtype list:\nPAT: [mem {BAR2}-0x00000000fec00000] write-combining\n"), true),
        ("write-combining @ 0xfebf0000-0xfec00000\n".to_string(), true),
        (format!("PAT: [mem {BAR2}-0x00000000fec00000] uncached-minus\nPAT: [mem 0x00000000fe000000-0x00000000fe001000] write-combining\n"), false),
    ] {
        write(&pat, &list);
        let o = f.bind("check-wc", "24.11.3", BOTH, &[]);
        let t = text(&o);
        assert!(o.status.success(), "{t}");
        if active {
            assert!(t.contains(&format!("write-combining active on {DATA_PCI} BAR 2 ({BAR2})")), "{list}\n{t}");
        } else {
            assert!(t.contains("WARNING: write-combining NOT active"), "{list}\n{t}");
        }
    }
}

/// Runs mirrorcap-tune.sh ARG on a fake machine: `nproc` vCPUs, `mem_gib` of RAM, the CPU flags
/// and the running kernel's command line.
fn tune(dir: &Path, arg: &str, nproc: u32, mem_gib: u64, flags: &str, cmdline: &str) -> Output {
    write(
        &dir.join("proc/meminfo"),
        &format!("MemTotal:       {} kB\n", mem_gib * 1024 * 1024),
    );
    write(
        &dir.join("proc/cpuinfo"),
        &format!("flags\t\t: fpu sse {flags}\n"),
    );
    write(&dir.join("proc/cmdline"), &format!("{cmdline}\n"));
    let log = dir.join("commands.log");
    exe(
        &dir.join("bin/update-grub"),
        &format!("echo update-grub >>{}", log.display()),
    );
    exe(
        &dir.join("bin/reboot"),
        &format!("echo reboot >>{}", log.display()),
    );
    Command::new("bash")
        .arg(script("mirrorcap-tune.sh"))
        .arg(arg)
        .env("MIRRORCAP_PROC", dir.join("proc"))
        .env("MIRRORCAP_SYSFS", dir.join("sys"))
        .env("MIRRORCAP_NPROC", nproc.to_string())
        .env("MIRRORCAP_GRUB_D", dir.join("grub.d"))
        .env("MIRRORCAP_STATE", dir.join("state"))
        .env("MIRRORCAP_UPDATE_GRUB", dir.join("bin/update-grub"))
        .env("MIRRORCAP_REBOOT", dir.join("bin/reboot"))
        .output()
        .unwrap()
}

#[test]
fn tune_picks_the_page_size_and_isolates_all_cores_but_0() {
    let d = tempfile::tempdir().unwrap();
    let out = |o: Output| String::from_utf8_lossy(&o.stdout).trim().to_string();
    assert_eq!(
        out(tune(d.path(), "print", 16, 32, "pdpe1gb", "")),
        "default_hugepagesz=1G hugepagesz=1G hugepages=9 isolcpus=1-15 nohz_full=1-15 rcu_nocbs=1-15 irqaffinity=0"
    );
    assert_eq!(
        out(tune(d.path(), "print", 2, 4, "", "")),
        "default_hugepagesz=2M hugepagesz=2M hugepages=1024 isolcpus=1 nohz_full=1 rcu_nocbs=1 irqaffinity=0"
    );
    assert_eq!(
        out(tune(d.path(), "print", 1, 1, "pdpe1gb", "")),
        "default_hugepagesz=2M hugepagesz=2M hugepages=512"
    );
}

#[test]
fn tune_reboots_once_then_never_loops() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    let o = tune(p, "apply", 4, 16, "pdpe1gb", "BOOT_IMAGE=/vmlinuz ro");
    assert!(o.status.success(), "{}", text(&o));
    let want = "default_hugepagesz=1G hugepagesz=1G hugepages=4 isolcpus=1-3 nohz_full=1-3 rcu_nocbs=1-3 irqaffinity=0";
    let cfg = fs::read_to_string(p.join("grub.d/50-mirrorcap.cfg")).unwrap();
    assert!(
        cfg.contains(&format!(
            "GRUB_CMDLINE_LINUX=\"$GRUB_CMDLINE_LINUX {want}\""
        )),
        "{cfg}"
    );
    assert_eq!(
        fs::read_to_string(p.join("commands.log")).unwrap(),
        "update-grub\nreboot\n"
    );
    // The same boot again (the bootloader ignored us): a warning, no second reboot.
    let o = tune(p, "apply", 4, 16, "pdpe1gb", "BOOT_IMAGE=/vmlinuz ro");
    assert!(text(&o).contains("not rebooting again"), "{}", text(&o));
    assert_eq!(
        fs::read_to_string(p.join("commands.log")).unwrap(),
        "update-grub\nreboot\n"
    );
    // Booted with the arguments: nothing to do.
    let o = tune(
        p,
        "apply",
        4,
        16,
        "pdpe1gb",
        &format!("BOOT_IMAGE=/vmlinuz ro {want}"),
    );
    assert!(text(&o).contains("running kernel has"), "{}", text(&o));
    assert_eq!(
        fs::read_to_string(p.join("commands.log")).unwrap(),
        "update-grub\nreboot\n"
    );
}

/// Runs mirrorcap-storage.sh on a fake machine whose NVMe controllers have the given models;
/// mountpoint/blkid/mkfs.xfs/mount log their arguments (blkid finds a filesystem if `formatted`).
fn storage(dir: &Path, models: &[&str], formatted: bool) -> (Output, String) {
    let _ = fs::remove_file(dir.join("commands.log"));
    let _ = fs::remove_dir_all(dir.join("sys"));
    for (i, m) in models.iter().enumerate() {
        write(
            &dir.join(format!("sys/class/nvme/nvme{i}/model")),
            &format!("{m}\n"),
        );
    }
    let log = dir.join("commands.log");
    let log = log.display();
    exe(
        &dir.join("bin/mountpoint"),
        &format!("echo \"mountpoint $*\" >>{log}; exit 1"),
    );
    exe(
        &dir.join("bin/blkid"),
        &format!(
            "echo \"blkid $*\" >>{log}; exit {}",
            if formatted { 0 } else { 2 }
        ),
    );
    exe(
        &dir.join("bin/mkfs"),
        &format!("echo \"mkfs.xfs $*\" >>{log}"),
    );
    exe(
        &dir.join("bin/mount"),
        &format!("echo \"mount $*\" >>{log}"),
    );
    let o = Command::new("bash")
        .arg(script("mirrorcap-storage.sh"))
        .env("MIRRORCAP_SYSFS", dir.join("sys"))
        .env("MIRRORCAP_DEV", "/dev")
        .env("RING_DIR", dir.join("ring"))
        .env("STORE_DIR", dir.join("store"))
        .env("MIRRORCAP_MOUNTPOINT", dir.join("bin/mountpoint"))
        .env("MIRRORCAP_BLKID", dir.join("bin/blkid"))
        .env("MIRRORCAP_MKFS", dir.join("bin/mkfs"))
        .env("MIRRORCAP_MOUNT", dir.join("bin/mount"))
        .output()
        .unwrap();
    let log = fs::read_to_string(dir.join("commands.log")).unwrap_or_default();
    (o, log)
}

#[test]
fn the_ring_goes_in_ram_and_the_store_on_the_instance_store_when_there_is_one() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    let (ring_dir, store_dir) = (p.join("ring"), p.join("store"));
    let (r, st) = (ring_dir.display(), store_dir.display());
    let tmpfs = format!(
        "mountpoint -q {r}\nmount -t tmpfs -o size=50%,huge=within_size,mode=0755,noatime mirrorcap-ring {r}\n"
    );
    // EBS only (the root volume's controller is "Amazon Elastic Block Store").
    let (o, log) = storage(p, &["Amazon Elastic Block Store"], false);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("no instance-store NVMe: store on the EBS volume"),
        "{}",
        text(&o)
    );
    assert_eq!(log, format!("{tmpfs}mountpoint -q {st}\n"));
    assert!(ring_dir.is_dir() && store_dir.is_dir());
    // A blank instance store: formatted, then mounted for the store.
    let (o, log) = storage(
        p,
        &[
            "Amazon Elastic Block Store",
            "Amazon EC2 NVMe Instance Storage",
        ],
        false,
    );
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        log,
        format!("{tmpfs}mountpoint -q {st}\nblkid /dev/nvme1n1\nmkfs.xfs -q -f /dev/nvme1n1\nmount -o noatime /dev/nvme1n1 {st}\n")
    );
    // Already formatted (a restart, not a new instance): mounted as it is.
    let (o, log) = storage(p, &["Amazon EC2 NVMe Instance Storage"], true);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        log,
        format!(
            "{tmpfs}mountpoint -q {st}\nblkid /dev/nvme0n1\nmount -o noatime /dev/nvme0n1 {st}\n"
        )
    );
}
