import { createApp } from 'vue'
import App from './App.vue'
import { router } from './router'
import { applyTheme } from './theme'
import { locale, setLocale } from './i18n'
import './style.css'

applyTheme()
setLocale(locale.value)
createApp(App).use(router).mount('#app')
