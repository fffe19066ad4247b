#!/usr/bin/env bash
# git gives the same results with hakmem preloaded: init, several commits of a few
# hundred files, log, gc (threaded delta compression), fsck. Dates and identities are
# fixed, so even the commit ids must be identical.
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/common.sh" "$1"
need git
assert_preloaded

git_session() {
  set -euo pipefail
  local repo
  repo=$(mktemp -d "$WORK/repo.XXXXXX")
  cd "$repo"
  export HOME="$repo" GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null
  export GIT_AUTHOR_NAME=hakmem GIT_AUTHOR_EMAIL=hakmem@example.invalid
  export GIT_COMMITTER_NAME=hakmem GIT_COMMITTER_EMAIL=hakmem@example.invalid
  git init -q -b main .
  git config core.autocrlf false
  git config pack.threads 2
  for commit in 1 2 3 4; do
    export GIT_AUTHOR_DATE="2024-01-0${commit}T12:00:00Z" GIT_COMMITTER_DATE="2024-01-0${commit}T12:00:00Z"
    mkdir -p dir0 dir1 dir2
    for i in $(seq 1 120); do
      # Mostly the same contents from commit to commit: good deltas for gc.
      seq "$i" $((i * 40 + commit * (i % 4 == 0))) >"dir$((i % 3))/file$i.txt"
    done
    head -c $((20000 * commit)) /dev/zero | tr '\0' "$commit" >"blob$commit.bin"
    [ "$commit" -eq 3 ] && git rm -q "dir0/file3.txt"
    git add -A
    git commit -q -m "commit $commit"
  done
  git log --format='%H %T %an %ad %s' --date=iso-strict
  git log --stat --format='%s' | tail -n 20
  git diff --stat HEAD~3 HEAD | tail -n 3
  git gc --quiet --aggressive
  git count-objects -v | grep -E '^(count|in-pack|packs)'
  git fsck --full --strict --no-progress 2>&1
  git rev-list --all --objects | sort
  git cat-file -p HEAD:dir1/file7.txt | tail -n 2
}
export -f git_session
export WORK
same_output git bash -c git_session
PRELOAD_ENV="HAKMEM_GUARD=1 HAKMEM_TINY_FAST_CAP=0" same_output git-guard bash -c git_session
