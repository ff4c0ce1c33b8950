#!/usr/bin/env bash
# Rebuilds web/static/graphiql/ from the pinned npm packages in package.json
# (package-lock.json fixes every transitive version). Run it after changing a
# version, then commit the result: the server serves these files itself, so
# GraphiQL works with no internet and under a CSP that allows only 'self'.
#
# GraphiQL 3 ships a ready UMD bundle (graphiql.min.js, with its editor and
# graphql-js inside) that expects React 18's UMD builds as globals; these are
# copied as they are, no bundler is needed. Our start-up code is init.js.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="$here/../../web/static/graphiql"
cd "$here"
npm ci --no-audit --no-fund --loglevel=error
mkdir -p "$out"
cp node_modules/graphiql/graphiql.min.js node_modules/graphiql/graphiql.min.css "$out/"
cp node_modules/react/umd/react.production.min.js "$out/"
cp node_modules/react-dom/umd/react-dom.production.min.js "$out/"
# The bundle points at a source map we do not ship.
sed -i -e '/^\/\/# sourceMappingURL=/d' -e '/^\/\*# sourceMappingURL=/d' "$out/graphiql.min.js" "$out/graphiql.min.css"
{
    for pkg in graphiql react react-dom; do
        version=$(node -p "require('./node_modules/$pkg/package.json').version")
        echo "==== $pkg $version (npm) ===="
        cat "node_modules/$pkg/LICENSE"
        echo
    done
} > "$out/LICENSE"
cp "$here/init.js" "$here/page.css" "$out/"
ls -l "$out"
