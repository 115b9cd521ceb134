// Screens and who may see them: admin screens need the admin role; a `user` is sent to the
// portal, which also serves anyone holding a key.
import { createRouter, createWebHistory } from 'vue-router'
import { loadSession, session } from './api'

export const router = createRouter({
  history: createWebHistory('/ui/'),
  routes: [
    { path: '/', component: () => import('./views/DashboardView.vue'), meta: { admin: true } },
    { path: '/accounts', component: () => import('./views/AccountsView.vue'), meta: { admin: true } },
    { path: '/keys', component: () => import('./views/KeysView.vue'), meta: { admin: true } },
    { path: '/users', component: () => import('./views/UsersView.vue'), meta: { admin: true } },
    { path: '/usage', component: () => import('./views/UsageView.vue'), meta: { admin: true } },
    { path: '/settings', component: () => import('./views/SettingsView.vue'), meta: { admin: true } },
    { path: '/password', component: () => import('./views/PasswordView.vue'), meta: { member: true } },
    { path: '/signin', component: () => import('./views/SignInView.vue') },
    { path: '/portal', component: () => import('./views/PortalView.vue') },
    { path: '/:rest(.*)*', redirect: '/' },
  ],
})

let checked = false

router.beforeEach(async (to) => {
  if (!checked) {
    checked = true
    await loadSession()
  }
  const user = session.value?.user
  if (to.meta.admin || to.meta.member) {
    if (!user) return { path: '/signin', query: { next: to.fullPath } }
    if (to.meta.admin && user.role !== 'admin') return { path: '/portal' }
  }
  return true
})
