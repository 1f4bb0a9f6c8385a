# fish completion for toucan-token; installed as share/fish/vendor_completions.d/toucan-token.fish.

# JSON|@FILE|- arguments: files after "@", otherwise the two file forms as hints.
function __toucan_token_json_input
    set -l token (commandline -ct)
    if string match -q -- '@*' $token
        for path in (__fish_complete_path (string sub -s 2 -- $token))
            echo "@$path"
        end
    else
        printf '%s\t%s\n' @ 'read the JSON object from a file' - 'read it from standard input'
    end
end

set -l single 'not __fish_seen_subcommand_from batch'
set -l batch '__fish_seen_subcommand_from batch'

complete -c toucan-token -f
complete -c toucan-token -n __fish_use_subcommand -a batch -d 'Mint one token per line of a JSON Lines file'

complete -c toucan-token -n $single -s u -l distinct-id -x -d "The end user's unique id"
complete -c toucan-token -n $single -s o -l output -x -a 'json token header env' -d 'Output format'
complete -c toucan-token -n $single -l version -d 'Print the version and exit'

complete -c toucan-token -s r -l role -x -a explorer -d "The end user's role"
complete -c toucan-token -s a -l attribute -x -d 'One attribute: KEY=VALUE or KEY:=JSON'
complete -c toucan-token -l attributes -x -a '(__toucan_token_json_input)' -d 'The whole attributes object: JSON, @FILE or -'
complete -c toucan-token -l permissions -x -a '(__toucan_token_json_input)' -d 'The permissions object: JSON, @FILE or -'
complete -c toucan-token -l base-url -x -d 'Instance URL'
complete -c toucan-token -l endpoint-path -x -d 'Path below the base URL'
complete -c toucan-token -l api-key-env -x -a '(set --names --export)' -d 'Environment variable that holds the API key'
complete -c toucan-token -l api-key-file -r -F -d 'Read the API key from a file (- for stdin)'
complete -c toucan-token -l timeout -x -d 'Limit for one attempt, in seconds'
complete -c toucan-token -l connect-timeout -x -d 'Limit for connecting, in seconds'
complete -c toucan-token -l retries -x -d 'Extra attempts on transient failures'
complete -c toucan-token -l cacert -r -F -d 'CA bundle to trust instead of the system store'
complete -c toucan-token -l dry-run -d 'Print the request that would be sent; send nothing'
complete -c toucan-token -s v -l verbose -d 'Progress and diagnostics on stderr'
complete -c toucan-token -s h -l help -d 'Print help and exit'

complete -c toucan-token -n $batch -l concurrency -x -d 'Requests in flight (1-256)'
complete -c toucan-token -n $batch -F -d 'JSON Lines file'
