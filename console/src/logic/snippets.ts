// "How to connect": ready-to-copy settings for each client, with this server's base URL and
// the key filled in.

export interface Snippet {
  id: string
  /** Message key of its title. */
  title: 'snip.claudeCode' | 'snip.codex' | 'snip.gemini' | 'snip.anthropicSdk' | 'snip.openaiSdk' | 'snip.googleSdk'
  text: string
}

export function snippets(base: string, key: string): Snippet[] {
  const b = base.replace(/\/+$/, '')
  return [
    {
      id: 'claude-code',
      title: 'snip.claudeCode',
      text: `export ANTHROPIC_BASE_URL=${b}\nexport ANTHROPIC_AUTH_TOKEN=${key}\nclaude`,
    },
    {
      id: 'codex',
      title: 'snip.codex',
      text:
        `# $CODEX_HOME/config.toml (default ~/.codex/config.toml)\nmodel_provider = "switchyard"\n\n` +
        `[model_providers.switchyard]\nname = "Switchyard"\nbase_url = "${b}/v1"\nenv_key = "SWITCHYARD_KEY"\nwire_api = "responses"\n\n` +
        `# then: export SWITCHYARD_KEY=${key}`,
    },
    {
      id: 'gemini',
      title: 'snip.gemini',
      text:
        `# ~/.gemini/settings.json: {"security":{"auth":{"selectedType":"gemini-api-key"}}}\n` +
        `export GOOGLE_GEMINI_BASE_URL=${b}\nexport GEMINI_API_KEY=${key}\ngemini`,
    },
    {
      id: 'anthropic-sdk',
      title: 'snip.anthropicSdk',
      text: `import anthropic\nclient = anthropic.Anthropic(base_url="${b}", api_key="${key}")`,
    },
    {
      id: 'openai-sdk',
      title: 'snip.openaiSdk',
      text: `from openai import OpenAI\nclient = OpenAI(base_url="${b}/v1", api_key="${key}")`,
    },
    {
      id: 'google-sdk',
      title: 'snip.googleSdk',
      text:
        `from google import genai\nfrom google.genai import types\n` +
        `client = genai.Client(api_key="${key}", http_options=types.HttpOptions(base_url="${b}"))`,
    },
  ]
}
