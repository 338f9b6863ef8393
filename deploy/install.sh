#!/bin/bash
# Install neuraldrive-audio on a NeuralDrive appliance (or into a staging tree).
#
#   sudo deploy/install.sh                  # install on this machine and enable the units
#   DESTDIR=/tmp/root deploy/install.sh     # stage into a tree, e.g. for an image build
#   sudo deploy/install.sh --open-webui     # also give NeuralDrive's Open WebUI our speech
#   sudo deploy/install.sh --remove-open-webui   # only undo --open-webui
#
# Safe to re-run: it upgrades the package and units and keeps the admin's config files.
# The user and the state directories come from sysusers.d/tmpfiles.d files, so a staged tree
# gets them at first boot; on the live system they are applied right away.
#
# Variables:
#   DESTDIR       staging root; empty (default) = this machine
#   SRC_DIR       source checkout to pip-install (default: the repo this script is in)
#   PYTHON        interpreter the venv is made from (default: python3)
#   VENV_DIR      venv path on the target (default: /usr/lib/neuraldrive/audio/venv)
#   PIP_EXTRAS    extras to install, e.g. "gpu" or "gpu,demo" (default: none)
#   SKIP_VENV=1   skip the venv and pip install (same as --no-venv)
#   UNIT_DIR      where units go (default: /etc/systemd/system, like NeuralDrive's own)
#   ENABLE_UNITS  services to enable along with neuraldrive-audio.target (default: Redis,
#                 the API and worker@cpu); a worker-only host sets e.g.
#                 ENABLE_UNITS=neuraldrive-audio-worker@0.service
#
# Flags:
#   --no-venv     same as SKIP_VENV=1
#   --wyoming     also enable the Wyoming server for Home Assistant (loopback only until
#                 NEURALDRIVE_AUDIO_WYOMING_HOST/ALLOW_NETWORKS, a unit drop-in and the
#                 firewall say otherwise: see docs/home-assistant.md)
#   --open-webui / --remove-open-webui   see below
#
# --open-webui writes /etc/neuraldrive/webui-audio.env (Open WebUI's AUDIO_* settings pointing
# at this service with the appliance key) and a drop-in that adds it to WEBUI_UNIT, then
# restarts that unit. The file also sets ENABLE_PERSISTENT_CONFIG=False: Open WebUI's stored
# settings otherwise win over its environment once it has run (docs/open-webui.md says what
# that costs). Its variables:
#   WEBUI_UNIT       default neuraldrive-webui.service
#   WEBUI_STT_MODEL  default whisper-1;  WEBUI_TTS_MODEL default tts-1
#   WEBUI_TTS_VOICE  default alloy;      AUDIO_API_URL   default http://127.0.0.1:8001/v1
#   API_KEY_FILE     default /etc/neuraldrive/api.key (the appliance key)
#
# Workers on other hosts (see docs/multi-host.md):
#   --redis-listen ADDR   main box: Redis also listens on ADDR:6380 over TLS with client
#                         certificates and one ACL user per role (deploy/redis-listen.sh);
#                         the local API and workers keep the unix socket, as their users
#   --redis-allow CIDR    networks the worker hosts are in (default: ADDR/24)
#   --redis-host ADDR     worker host: its workers may reach the main box's Redis at ADDR
set -euo pipefail

SRC_DIR=${SRC_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
DESTDIR=${DESTDIR:-}
PYTHON=${PYTHON:-python3}
VENV_DIR=${VENV_DIR:-/usr/lib/neuraldrive/audio/venv}
PIP_EXTRAS=${PIP_EXTRAS:-}
SKIP_VENV=${SKIP_VENV:-0}
UNIT_DIR=${UNIT_DIR:-/etc/systemd/system}
CONF_DIR=/etc/neuraldrive
ENABLE_UNITS=${ENABLE_UNITS:-neuraldrive-audio-redis.service neuraldrive-audio-api.service neuraldrive-audio-worker@cpu.service}
WEBUI_UNIT=${WEBUI_UNIT:-neuraldrive-webui.service}
WEBUI_STT_MODEL=${WEBUI_STT_MODEL:-whisper-1}
WEBUI_TTS_MODEL=${WEBUI_TTS_MODEL:-tts-1}
WEBUI_TTS_VOICE=${WEBUI_TTS_VOICE:-alloy}
AUDIO_API_URL=${AUDIO_API_URL:-http://127.0.0.1:8001/v1}
API_KEY_FILE=${API_KEY_FILE:-$CONF_DIR/api.key}
WEBUI_ENV=$CONF_DIR/webui-audio.env
WEBUI_DROPIN=$UNIT_DIR/$WEBUI_UNIT.d/neuraldrive-audio.conf
OPEN_WEBUI=none

REDIS_LISTEN=""
REDIS_ALLOW=""
REDIS_HOST=""
WYOMING=0
while [ $# -gt 0 ]; do
    case $1 in
        --no-venv) SKIP_VENV=1 ;;
        --wyoming) WYOMING=1 ;;
        --open-webui) OPEN_WEBUI=add ;;
        --remove-open-webui) OPEN_WEBUI=remove ;;
        --redis-listen) REDIS_LISTEN=${2:?--redis-listen needs an address}; shift ;;
        --redis-allow) REDIS_ALLOW=${2:?--redis-allow needs a network}; shift ;;
        --redis-host) REDIS_HOST=${2:?--redis-host needs an address}; shift ;;
        *) echo "usage: $0 [--no-venv] [--wyoming] [--open-webui | --remove-open-webui]" \
                "[--redis-listen ADDR [--redis-allow CIDR]] [--redis-host ADDR]" >&2
           exit 2 ;;
    esac
    shift
done
if [ "$WYOMING" = 1 ]; then
    ENABLE_UNITS="$ENABLE_UNITS neuraldrive-audio-wyoming.service"
fi

# Restart Open WebUI if it runs here, so it reads its environment again.
restart_webui() {
    if [ -z "$DESTDIR" ] && [ -d /run/systemd/system ]; then
        systemctl daemon-reload
        systemctl try-restart "$WEBUI_UNIT"
    fi
}

# Open WebUI's speech settings, pointing at this service with the appliance key.
add_open_webui() {
    local key
    key=$(tr -d '[:space:]' < "$DESTDIR$API_KEY_FILE" 2>/dev/null) || key=
    if [ -z "$key" ]; then
        echo "no API key in $DESTDIR$API_KEY_FILE: Open WebUI needs the appliance key" >&2
        exit 1
    fi
    install -d -m 0755 "$(dirname "$DESTDIR$WEBUI_ENV")"
    # Holds the key: readable by root only (systemd reads EnvironmentFile= as root).
    (umask 077 && cat > "$DESTDIR$WEBUI_ENV" <<ENV
# Written by neuraldrive-audio's install.sh --open-webui; --remove-open-webui deletes it.
AUDIO_STT_ENGINE=openai
AUDIO_STT_OPENAI_API_BASE_URL=$AUDIO_API_URL
AUDIO_STT_OPENAI_API_KEY=$key
AUDIO_STT_MODEL=$WEBUI_STT_MODEL
AUDIO_TTS_ENGINE=openai
AUDIO_TTS_OPENAI_API_BASE_URL=$AUDIO_API_URL
AUDIO_TTS_OPENAI_API_KEY=$key
AUDIO_TTS_MODEL=$WEBUI_TTS_MODEL
AUDIO_TTS_VOICE=$WEBUI_TTS_VOICE
# Stored settings would otherwise win over these once Open WebUI has run.
ENABLE_PERSISTENT_CONFIG=False
ENV
    )
    install -D -m 0644 /dev/stdin "$DESTDIR$WEBUI_DROPIN" <<UNIT
# neuraldrive-audio: Open WebUI's microphone and read-aloud use the local speech service.
[Service]
EnvironmentFile=$WEBUI_ENV
UNIT
    restart_webui
    echo "Open WebUI ($WEBUI_UNIT) now speaks through $AUDIO_API_URL."
}

remove_open_webui() {
    rm -f "$DESTDIR$WEBUI_ENV" "$DESTDIR$WEBUI_DROPIN"
    rmdir --ignore-fail-on-non-empty "$(dirname "$DESTDIR$WEBUI_DROPIN")" 2>/dev/null || true
    restart_webui
    echo "Open WebUI ($WEBUI_UNIT) is back to its own speech settings."
}

if [ "$OPEN_WEBUI" = remove ]; then
    remove_open_webui
    exit 0
fi

# Copy only when absent, so an admin's edits survive upgrades.
install_once() {
    if [ -e "$3" ]; then
        echo "keeping existing $3"
    else
        install -D -m "$1" "$2" "$3"
    fi
}

# 1. The package, in its own venv.
if [ "$SKIP_VENV" != 1 ]; then
    venv=$DESTDIR$VENV_DIR
    [ -x "$venv/bin/python" ] || "$PYTHON" -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --upgrade "$SRC_DIR${PIP_EXTRAS:+[$PIP_EXTRAS]}"
    if [ -n "$DESTDIR" ]; then
        # pip wrote the staging path into script shebangs; the target sees the venv at VENV_DIR.
        find "$venv/bin" -maxdepth 1 -type f -exec sed -i "s|$venv|$VENV_DIR|g" {} +
    fi
fi

# 2. User, directories, units and config.
install -D -m 0644 "$SRC_DIR/systemd/neuraldrive-audio.sysusers.conf" \
    "$DESTDIR/usr/lib/sysusers.d/neuraldrive-audio.conf"
install -D -m 0644 "$SRC_DIR/systemd/neuraldrive-audio.tmpfiles.conf" \
    "$DESTDIR/usr/lib/tmpfiles.d/neuraldrive-audio.conf"
for unit in neuraldrive-audio.target neuraldrive-audio-redis.service \
    neuraldrive-audio-api.service neuraldrive-audio-worker@.service \
    neuraldrive-audio-wyoming.service; do
    install -D -m 0644 "$SRC_DIR/systemd/$unit" "$DESTDIR$UNIT_DIR/$unit"
done
install_once 0640 "$SRC_DIR/systemd/audio.conf" "$DESTDIR$CONF_DIR/audio.conf"
install_once 0640 "$SRC_DIR/systemd/audio-redis.conf" "$DESTDIR$CONF_DIR/audio-redis.conf"
install -D -m 0644 "$SRC_DIR/caddy/neuraldrive-audio.caddy" \
    "$DESTDIR$CONF_DIR/caddy.d/neuraldrive-audio.caddy"

# --- Workers on other hosts: Redis over TLS with per-role users (--redis-listen) ----------
if [ -n "$REDIS_LISTEN" ]; then
    DESTDIR="$DESTDIR" CONF_DIR=$CONF_DIR LISTEN_ADDR=$REDIS_LISTEN "$SRC_DIR/deploy/redis-listen.sh"
    listen_conf="$DESTDIR$CONF_DIR/audio-redis.conf"
    grep -q '^include .*audio-redis-listen.conf' "$listen_conf" ||
        echo "include $CONF_DIR/audio-redis-listen.conf" >>"$listen_conf"
    if [ -z "$DESTDIR" ]; then  # Redis and the services read these as the service group
        chgrp -R neuraldrive-audio "$CONF_DIR/redis-tls" "$CONF_DIR"/audio-redis*.acl \
            "$CONF_DIR"/audio-redis-*.env "$CONF_DIR/audio-redis-listen.conf" 2>/dev/null || true
        chmod 0750 "$CONF_DIR/redis-tls"
        chmod 0640 "$CONF_DIR"/redis-tls/server.* "$CONF_DIR"/audio-redis.acl \
            "$CONF_DIR"/audio-redis-*.env "$CONF_DIR/audio-redis-listen.conf"
    fi
    dropin() {  # unit, file name, [Service] lines
        install -d "$DESTDIR$UNIT_DIR/$1.d"
        printf '[Service]\n%s\n' "$3" >"$DESTDIR$UNIT_DIR/$1.d/$2"
    }
    dropin neuraldrive-audio-redis.service listen.conf "PrivateNetwork=no
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6
IPAddressAllow=${REDIS_ALLOW:-$REDIS_LISTEN/24}"
    dropin neuraldrive-audio-api.service redis-user.conf \
        "EnvironmentFile=$CONF_DIR/audio-redis-api.env"
    dropin neuraldrive-audio-worker@.service redis-user.conf \
        "EnvironmentFile=-$CONF_DIR/audio-redis-worker.env"
fi
if [ -n "$REDIS_HOST" ]; then
    install -d "$DESTDIR$UNIT_DIR/neuraldrive-audio-worker@.service.d"
    printf '[Service]\nIPAddressAllow=%s\n' "$REDIS_HOST" \
        >"$DESTDIR$UNIT_DIR/neuraldrive-audio-worker@.service.d/remote-redis.conf"
fi

# 3. Apply and enable. `systemctl --root` only writes the [Install] symlinks, which is all a
# staged tree needs; the live system also gets its user and directories now.
# shellcheck disable=SC2086 # ENABLE_UNITS is a list
if [ -z "$DESTDIR" ]; then
    systemd-sysusers neuraldrive-audio.conf
    systemd-tmpfiles --create neuraldrive-audio.conf
    # Not booted with systemd (a chroot): enabling still works, there is just nothing to reload.
    if [ -d /run/systemd/system ]; then systemctl daemon-reload; fi
    systemctl enable neuraldrive-audio.target $ENABLE_UNITS
    echo "Installed. Start with: systemctl start neuraldrive-audio.target"
    echo "Then add 'import $CONF_DIR/caddy.d/*.caddy' to the :8443 block of $CONF_DIR/Caddyfile."
else
    systemctl --root="$DESTDIR" enable neuraldrive-audio.target $ENABLE_UNITS
fi
if [ "$WYOMING" = 1 ]; then
    # NeuralDrive's nftables policy drops inbound traffic except its own ports, so the
    # Wyoming port stays closed to the LAN until the admin opens it for Home Assistant.
    echo "Wyoming server enabled on 127.0.0.1:10300 (loopback only). For Home Assistant on the LAN:"
    echo "  set NEURALDRIVE_AUDIO_WYOMING_HOST and NEURALDRIVE_AUDIO_WYOMING_ALLOW_NETWORKS in"
    echo "  /var/lib/neuraldrive/config/audio.conf, add IPAddressAllow=<HA address> with"
    echo "  'systemctl edit neuraldrive-audio-wyoming', and open tcp/10300 from that address only"
    echo "  in NeuralDrive's nftables rules (docs/home-assistant.md)."
fi

if [ "$OPEN_WEBUI" = add ]; then
    add_open_webui
fi
